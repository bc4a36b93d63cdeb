"""consent: YES, ДА, 是 and نعم only confirm a pending request (keyword action confirm_opt_in)

Revision ID: 0006_consent
Revises: 0005
Create Date: 2026-12-01 13:30:00

The built-in rows seeded by earlier versions hold these words as opt-ins; the matcher reads them as
confirmations anyway, and this makes the stored rows (GET /keywords) say the same.
"""

from alembic import op
import sqlalchemy as sa

revision = '0006_consent'
down_revision = '0005'
branch_labels = None
depends_on = None

CONFIRMATIONS = ('yes', 'да', '是', 'نعم')  # keywords.normalise of each word
keywords = sa.table('keywords', sa.column('word', sa.String), sa.column('action', sa.String),
                    sa.column('builtin', sa.Boolean))


def upgrade() -> None:
    op.execute(keywords.update().where(keywords.c.builtin.is_(True), keywords.c.action == 'opt_in',
                                       keywords.c.word.in_(CONFIRMATIONS)).values(action='confirm_opt_in'))


def downgrade() -> None:
    op.execute(keywords.update().where(keywords.c.builtin.is_(True), keywords.c.action == 'confirm_opt_in',
                                       keywords.c.word.in_(CONFIRMATIONS)).values(action='opt_in'))
