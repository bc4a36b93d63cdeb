"""status reports: find the sent parts whose wait for a report is over without reading every part

Revision ID: 0015_part_report_wait
Revises: 0014_contacts_console
Create Date: 2026-12-01 19:00:00

The engine's sweep records a part sent longer ago than `[reports] wait_hours` without a report as
having none; only parts still `sent` are read, the oldest first, straight from this index.
"""

from alembic import op

revision = '0015_part_report_wait'
down_revision = '0014_contacts_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.create_index('ix_parts_status_sent', ['status', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_parts_status_sent')
