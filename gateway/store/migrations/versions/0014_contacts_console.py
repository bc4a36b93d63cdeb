"""named rule segments, and contacts' names indexed for the console's prefix search

Revision ID: 0014_contacts_console
Revises: 0013_console_users
Create Date: 2026-12-01 18:45:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0014_contacts_console'
down_revision = '0013_console_users'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'segments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('rule', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_index('ix_contacts_name', 'contacts', ['name'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contacts_name', table_name='contacts')
    op.drop_table('segments')
