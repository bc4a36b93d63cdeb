"""a console user can be disabled (kept for the audit log, unable to sign in)

Revision ID: 0017_console_user_disabled
Revises: 0016_inbox_order
Create Date: 2026-12-01 19:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0017_console_user_disabled'
down_revision = '0016_inbox_order'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sessions_ended_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('sessions_ended_at')
        batch.drop_column('disabled_at')
