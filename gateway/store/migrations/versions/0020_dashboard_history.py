"""the dashboard's per-hour and per-day counts read index ranges of sent_at and finished_at

Revision ID: 0020_dashboard_history
Revises: 0019_opt_out_requests
Create Date: 2026-12-01 23:20:00
"""

from alembic import op


revision = '0020_dashboard_history'
down_revision = '0019_opt_out_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_messages_sent_at', 'messages', ['sent_at'])
    op.create_index('ix_messages_status_finished', 'messages', ['status', 'finished_at'])


def downgrade() -> None:
    op.drop_index('ix_messages_status_finished', table_name='messages')
    op.drop_index('ix_messages_sent_at', table_name='messages')
