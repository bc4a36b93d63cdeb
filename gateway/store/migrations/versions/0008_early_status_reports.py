"""status reports that come before their part is recorded wait in early_reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00

The network may answer a part's status report before the worker's commit records the part's
reference; such a report is kept and applied when the part is recorded, instead of being dropped.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'early_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('modem', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=32), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('discharged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('part_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['part_id'], ['message_parts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_early_reports_modem_reference', 'early_reports', ['modem', 'reference', 'received_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_early_reports_modem_reference', table_name='early_reports')
    op.drop_table('early_reports')
