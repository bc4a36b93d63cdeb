"""campaigns, their variants and recipients; the campaign of each message

Revision ID: 0012_campaigns
Revises: 0011_scale_indexes
Create Date: 2026-12-01 16:30:00

Every recipient of a campaign is a row (one per contact: the unique key), with its state and the
message it became; `messages.campaign_id` names the campaign that queued a message.
"""

import sqlalchemy as sa
from alembic import op


revision = '0012_campaigns'
down_revision = '0011_scale_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('audience', sa.JSON(), nullable=False),
        sa.Column('footer', sa.Boolean(), nullable=False),
        sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('window_start', sa.String(length=5), nullable=True),
        sa.Column('window_end', sa.String(length=5), nullable=True),
        sa.Column('expanded_to', sa.Integer(), nullable=True),
        sa.Column('expanded', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'campaign_variants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('template_id', sa.Integer(), nullable=True),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id']),
        sa.ForeignKeyConstraint(['template_id'], ['templates.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'seq'),
    )
    op.create_index('ix_campaign_variants_campaign_id', 'campaign_variants', ['campaign_id'], unique=False)
    op.create_table(
        'campaign_recipients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('variant_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id']),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.ForeignKeyConstraint(['variant_id'], ['campaign_variants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'contact_id'),
        sa.UniqueConstraint('message_id'),
    )
    op.create_index('ix_campaign_recipients_state', 'campaign_recipients', ['campaign_id', 'state', 'id'],
                    unique=False)
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch.create_index('ix_messages_campaign_id', ['campaign_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_campaign_id')
        batch.drop_column('campaign_id')
    op.drop_index('ix_campaign_recipients_state', table_name='campaign_recipients')
    op.drop_table('campaign_recipients')
    op.drop_index('ix_campaign_variants_campaign_id', table_name='campaign_variants')
    op.drop_table('campaign_variants')
    op.drop_table('campaigns')
