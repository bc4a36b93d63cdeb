"""webhook endpoints: the previous secret stays valid for a grace period after a rotation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:10:00

While `previous_secret_until` is in the future, deliveries carry a signature with the previous
secret next to the one with the current secret, so a receiver can switch secrets without losing one.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_until')
        batch_op.drop_column('previous_secret')
