"""indexes for the claim and the message list filters

Revision ID: 0011_scale_indexes
Revises: 0010_scheduler_jobs
Create Date: 2026-12-01 16:00:00

The claim seeks the due messages of each priority in the order they fell due, so messages waiting
for a later time (quiet hours, backoff) are never read by it; the list filters (status, SIM, kind)
page newest first by id on an index each.
"""

from alembic import op

revision = '0011_scale_indexes'
down_revision = '0010_scheduler_jobs'
branch_labels = None
depends_on = None

LIST_INDEXES = {'ix_messages_status_id': ['status', 'id'], 'ix_messages_sim_id': ['sim', 'id'],
                'ix_messages_kind_id': ['kind', 'id']}


def upgrade() -> None:
    op.drop_index('ix_messages_due', table_name='messages')
    op.create_index('ix_messages_claim', 'messages', ['status', 'priority', 'not_before', 'id'], unique=False)
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, 'messages', columns, unique=False)


def downgrade() -> None:
    for name in LIST_INDEXES:
        op.drop_index(name, table_name='messages')
    op.drop_index('ix_messages_claim', table_name='messages')
    op.create_index('ix_messages_due', 'messages', ['status', 'priority', 'id'], unique=False)
