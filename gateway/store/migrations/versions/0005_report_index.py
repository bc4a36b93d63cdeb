"""status reports: find the newest part with a reference without reading every older one

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:00:00

A modem's references wrap at 256 (or 65536), so after months one (modem, reference) pair names
thousands of parts; with submitted_at in the index the newest few are read straight from it.
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_parts_modem_reference')
        batch_op.create_index('ix_parts_modem_reference', ['modem', 'reference', 'submitted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_parts_modem_reference')
        batch_op.create_index('ix_parts_modem_reference', ['modem', 'reference'], unique=False)
