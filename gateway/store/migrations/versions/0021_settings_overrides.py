"""console overrides of settings (limits per SIM, quiet hours, frequency cap) and their version

Revision ID: 0021_settings_overrides
Revises: 0020_dashboard_history
Create Date: 2026-12-01 23:20:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0021_settings_overrides'
down_revision = '0020_dashboard_history'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'setting_overrides',
        sa.Column('key', sa.String(length=128), primary_key=True),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('changed_by', sa.String(length=64), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    )
    version = op.create_table(
        'settings_version',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column('version', sa.Integer(), nullable=False),
    )
    op.bulk_insert(version, [{'id': 1, 'version': 0}])  # its one row, so writers only ever update it


def downgrade() -> None:
    op.drop_table('settings_version')
    op.drop_table('setting_overrides')
