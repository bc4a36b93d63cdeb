"""campaigns: A/B tests (sample, decision, winner), the footer on the first message only; the
opt-outs since a time found by index (a campaign's results)

Revision ID: 0018_campaign_ab_tests
Revises: 0017_console_user_disabled
Create Date: 2026-12-01 19:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0018_campaign_ab_tests'
down_revision = '0017_console_user_disabled'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('footer_first', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('seed', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('sample', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('decide_after_s', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('measure', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('winner_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('decision', sa.Text(), nullable=True))
    with op.batch_alter_table('campaign_recipients') as batch:
        batch.add_column(sa.Column('in_sample', sa.Boolean(), nullable=True))
    op.create_index('ix_consent_events_kind_at', 'consent_events', ['kind', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_consent_events_kind_at', table_name='consent_events')
    with op.batch_alter_table('campaign_recipients') as batch:
        batch.drop_column('in_sample')
    with op.batch_alter_table('campaigns') as batch:
        for column in ('decision', 'decided_at', 'winner_id', 'measure', 'decide_after_s', 'sample', 'seed',
                       'footer_first'):
            batch.drop_column(column)
