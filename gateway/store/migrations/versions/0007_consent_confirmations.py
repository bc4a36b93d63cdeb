"""consent: YES, ДА, 是 and نعم only confirm a pending request; contacts' guessed timezones

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:30:00

The built-in keyword rows seeded by earlier versions hold these words as opt-ins; the matcher reads
them as confirmations anyway, and this makes the stored rows (GET /keywords) say the same.

contacts.timezone_guessed: a number whose plan spans several zones gets its country's most populous
one, marked as a guess. Contacts that got no zone before (exactly those numbers) get it now.
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CONFIRMATIONS = ('yes', 'да', '是', 'نعم')  # keywords.normalise of each word
keywords = sa.table('keywords', sa.column('word', sa.String), sa.column('action', sa.String),
                    sa.column('builtin', sa.Boolean))


contacts = sa.table('contacts', sa.column('id', sa.Integer), sa.column('number', sa.String),
                    sa.column('timezone', sa.String), sa.column('timezone_guessed', sa.Boolean))


def upgrade() -> None:
    from gateway.audience.contacts import timezone_for

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone_guessed', sa.Boolean(), nullable=False, server_default=sa.false()))
    bind = op.get_bind()
    for contact_id, number in bind.execute(sa.select(contacts.c.id, contacts.c.number)
                                           .where(contacts.c.timezone.is_(None))).all():
        zone = timezone_for(number)
        if zone.name is not None:
            bind.execute(contacts.update().where(contacts.c.id == contact_id)
                         .values(timezone=zone.name, timezone_guessed=zone.guessed))
    op.execute(keywords.update().where(keywords.c.builtin.is_(True), keywords.c.action == 'opt_in',
                                       keywords.c.word.in_(CONFIRMATIONS)).values(action='confirm_opt_in'))


def downgrade() -> None:
    op.execute(contacts.update().where(contacts.c.timezone_guessed.is_(True)).values(timezone=None))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('timezone_guessed')
    op.execute(keywords.update().where(keywords.c.builtin.is_(True), keywords.c.action == 'confirm_opt_in',
                                       keywords.c.word.in_(CONFIRMATIONS)).values(action='opt_in'))
