"""initial schema

Revision ID: 0001
Revises: -
Create Date: 2026-11-23 02:06:42.002367
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('modem', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('concat_ref', sa.Integer(), nullable=True),
    sa.Column('concat_total', sa.Integer(), nullable=True),
    sa.Column('concat_seq', sa.Integer(), nullable=True),
    sa.Column('raw_pdu', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbound_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_parts_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_parts_sender'), ['sender'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('encoding', sa.String(length=8), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('concat_ref', sa.Integer(), nullable=True),
    sa.Column('sim_requested', sa.String(length=64), nullable=True),
    sa.Column('sim', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_due', ['status', 'priority', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_to_number'), ['to_number'], unique=False)

    op.create_table('modems',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('manufacturer', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=64), nullable=True),
    sa.Column('imei', sa.String(length=32), nullable=True),
    sa.Column('imsi', sa.String(length=32), nullable=True),
    sa.Column('iccid', sa.String(length=32), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('signal_bars', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('message_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('part_seq', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_events_message_id'), ['message_id'], unique=False)

    op.create_table('message_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('modem', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_status', sa.Integer(), nullable=True),
    sa.Column('report_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'seq')
    )
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_parts_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_parts_modem_reference', ['modem', 'reference'], unique=False)
        batch_op.create_index('ix_parts_modem_submitted', ['modem', 'submitted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('message_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_parts_modem_submitted')
        batch_op.drop_index('ix_parts_modem_reference')
        batch_op.drop_index(batch_op.f('ix_message_parts_message_id'))

    op.drop_table('message_parts')
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_events_message_id'))

    op.drop_table('message_events')
    op.drop_table('modems')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_to_number'))
        batch_op.drop_index('ix_messages_due')

    op.drop_table('messages')
    with op.batch_alter_table('inbound_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_parts_sender'))
        batch_op.drop_index(batch_op.f('ix_inbound_parts_received_at'))

    op.drop_table('inbound_parts')
