"""a number's messages of a kind on one index: the frequency cap's count at each marketing send

Revision ID: 0022_messages_number_kind
Revises: 0021_settings_overrides
Create Date: 2026-12-02 00:00:00
"""

from alembic import op


revision = '0022_messages_number_kind'
down_revision = '0021_settings_overrides'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_messages_number_kind', 'messages', ['to_number', 'kind', 'id'], unique=False)
    op.drop_index('ix_messages_to_number', table_name='messages')


def downgrade() -> None:
    op.create_index('ix_messages_to_number', 'messages', ['to_number'], unique=False)
    op.drop_index('ix_messages_number_kind', table_name='messages')
