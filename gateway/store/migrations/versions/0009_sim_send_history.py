"""each SIM's sends in sim_sends, stamped on the wall and monotonic clocks; clock_offsets

Revision ID: 0009_sim_send_history
Revises: 0008
Create Date: 2026-12-01 16:00:00

Limit windows and sticky routing follow the SIM (ICCID, else IMSI), not the modem's name. The sends
already made are carried over under the SIM each modem held when last seen (its name where it showed
no identity), with their wall-clock times only, so an upgrade resets no count. clock_offsets keeps
the wall clock's offset from the monotonic one per boot, so a step of the wall clock is noticed.
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = '0009_sim_send_history'
down_revision = '0008'
branch_labels = None
depends_on = None

KEPT_DAYS = 31  # the longest limit window is 30 days


def upgrade() -> None:
    op.create_table(
        'sim_sends',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sim', sa.String(length=64), nullable=False),
        sa.Column('modem', sa.String(length=64), nullable=False),
        sa.Column('to_number', sa.String(length=20), nullable=False),
        sa.Column('part_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('monotonic', sa.Float(), nullable=True),
        sa.Column('boot', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['part_id'], ['message_parts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sim_sends_sim_at', 'sim_sends', ['sim', 'at'], unique=False)
    op.create_index('ix_sim_sends_sim_boot_monotonic', 'sim_sends', ['sim', 'boot', 'monotonic'], unique=False)
    op.create_index('ix_sim_sends_to_number', 'sim_sends', ['to_number', 'id'], unique=False)
    op.create_table(
        'clock_offsets',
        sa.Column('boot', sa.String(length=64), nullable=False),
        sa.Column('wall_offset', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('boot'),
    )
    parts = sa.table('message_parts', sa.column('id', sa.Integer()), sa.column('message_id', sa.Integer()),
                     sa.column('modem', sa.String()), sa.column('submitted_at', sa.DateTime(timezone=True)))
    messages = sa.table('messages', sa.column('id', sa.Integer()), sa.column('to_number', sa.String()))
    modems = sa.table('modems', sa.column('name', sa.String()), sa.column('iccid', sa.String()),
                      sa.column('imsi', sa.String()))
    sends = sa.table('sim_sends', sa.column('sim', sa.String()), sa.column('modem', sa.String()),
                     sa.column('to_number', sa.String()), sa.column('part_id', sa.Integer()),
                     sa.column('at', sa.DateTime(timezone=True)), sa.column('boot', sa.String()))
    newest = sa.select(sa.func.max(parts.c.submitted_at)).scalar_subquery()
    sim = sa.case((sa.func.coalesce(modems.c.iccid, '') != '', sa.literal('iccid:') + modems.c.iccid),
                  (sa.func.coalesce(modems.c.imsi, '') != '', sa.literal('imsi:') + modems.c.imsi),
                  else_=sa.literal('modem:') + parts.c.modem)
    carried = (sa.select(sim, parts.c.modem, messages.c.to_number, parts.c.id, parts.c.submitted_at, sa.literal(''))
               .select_from(parts.join(messages, messages.c.id == parts.c.message_id)
                            .outerjoin(modems, modems.c.name == parts.c.modem))
               .where(parts.c.modem.is_not(None), parts.c.submitted_at.is_not(None))
               .order_by(parts.c.submitted_at, parts.c.id))
    bind = op.get_bind()
    cutoff = bind.execute(sa.select(newest)).scalar()
    if cutoff is None:
        return
    carried = carried.where(parts.c.submitted_at > cutoff - timedelta(days=KEPT_DAYS))
    op.execute(sends.insert().from_select(['sim', 'modem', 'to_number', 'part_id', 'at', 'boot'], carried))


def downgrade() -> None:
    op.drop_table('clock_offsets')
    op.drop_index('ix_sim_sends_to_number', table_name='sim_sends')
    op.drop_index('ix_sim_sends_sim_boot_monotonic', table_name='sim_sends')
    op.drop_index('ix_sim_sends_sim_at', table_name='sim_sends')
    op.drop_table('sim_sends')
