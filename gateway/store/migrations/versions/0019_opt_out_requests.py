"""texts that read like a request to stop: marketing held until staff decide

Revision ID: 0019_opt_out_requests
Revises: 0018_campaign_ab_tests
Create Date: 2026-12-01 23:30:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0019_opt_out_requests'
down_revision = '0018_campaign_ab_tests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'opt_out_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('inbound_message_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision', sa.String(length=16), nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_opt_out_requests_contact', 'opt_out_requests', ['contact_id', 'decided_at'])


def downgrade() -> None:
    op.drop_index('ix_opt_out_requests_contact', table_name='opt_out_requests')
    op.drop_table('opt_out_requests')
