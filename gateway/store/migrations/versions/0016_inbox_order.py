"""indexes for the console's inbox: conversations newest first, and a number's newest thread

Revision ID: 0016_inbox_order
Revises: 0015_part_report_wait
Create Date: 2026-12-01 18:45:00

The inbox pages through conversations by their last message on an index, and finds for each number
its newest thread (a customer who wrote to two SIMs is one line) and its unread count by another, so
a page view reads its page and nothing more however many conversations are stored.
"""

from alembic import op

revision = '0016_inbox_order'
down_revision = '0015_part_report_wait'
branch_labels = None
depends_on = None

INDEXES = {'ix_conversations_latest': ['last_message_at', 'id'],
           'ix_conversations_number_latest': ['number', 'last_message_at', 'id']}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'conversations', columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='conversations')
