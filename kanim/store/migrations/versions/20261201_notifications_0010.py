"""notifications: events fanned out to consumers, messages to applicants, staged pickup

- event_queue: each consumer's own queue of domain events, written in the event's transaction
  (kanim/store/fanout.py);
- notify_rule, notify_message, notify_attempt, notify_optout: who is told what, each message
  with its state and every attempt (kanim/office/notify.py);
- pickup_assignment, pickup_extra: pickup slots given to ready passports within the desk's
  capacity, and extra service days (kanim/office/pickup_slots.py);
- booking.language: the applicant's language (id | en), for their messages.

Revision ID: 0010_notify
Revises: 0009_dashboard
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_notify'
down_revision = '0009_dashboard'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_queue',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('consumer', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=48), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('dead', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_event_queue')),
    sa.UniqueConstraint('consumer', 'event_id', name='uq_event_queue_consumer_event')
    )
    with op.batch_alter_table('event_queue', schema=None) as batch_op:
        batch_op.create_index('ix_event_queue_consumer_seq', ['consumer', 'seq'], unique=False)
        batch_op.create_index('ix_event_queue_consumer_subject', ['consumer', 'subject', 'seq'], unique=False)

    op.create_table('notify_attempt',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=120), nullable=False),
    sa.Column('provider_ref', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_attempt'))
    )
    with op.batch_alter_table('notify_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_attempt_message_id'), ['message_id'], unique=False)

    op.create_table('notify_message',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=True),
    sa.Column('booking_id', sa.String(length=36), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('fallbacks', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('provider_ref', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_notify_message')),
    sa.UniqueConstraint('id', name=op.f('uq_notify_message_id')),
    sa.UniqueConstraint('key', name=op.f('uq_notify_message_key'))
    )
    with op.batch_alter_table('notify_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_message_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notify_message_provider_ref'), ['provider_ref'], unique=False)
        batch_op.create_index('ix_notify_message_state_seq', ['state', 'seq'], unique=False)
        batch_op.create_index('ix_notify_message_address_sent', ['address', 'sent_at'], unique=False)

    op.create_table('notify_receipt_early',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_ref', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error_code', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_receipt_early'))
    )
    with op.batch_alter_table('notify_receipt_early', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_receipt_early_provider_ref'), ['provider_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_notify_receipt_early_received_at'), ['received_at'], unique=False)

    op.create_table('notify_inbound',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_inbound'))
    )
    op.create_table('notify_optout',
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('how', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_notify_optout'))
    )
    op.create_table('notify_rule',
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('purpose', name=op.f('pk_notify_rule'))
    )
    op.create_table('pickup_extra',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slots', sa.JSON(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_pickup_extra'))
    )
    op.create_table('pickup_assignment',
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('booking_id', sa.String(length=36), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot', sa.String(length=5), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moves', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_pickup_assignment_application_id_application')),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_pickup_assignment')),
    sa.UniqueConstraint('code', name=op.f('uq_pickup_assignment_code'))
    )
    with op.batch_alter_table('pickup_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_pickup_assignment_day_slot', ['day', 'slot'], unique=False)

    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), server_default='id', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_column('language')

    with op.batch_alter_table('pickup_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_pickup_assignment_day_slot')

    op.drop_table('pickup_assignment')
    op.drop_table('pickup_extra')
    op.drop_table('notify_rule')
    op.drop_table('notify_optout')
    op.drop_table('notify_inbound')
    with op.batch_alter_table('notify_receipt_early', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_receipt_early_received_at'))
        batch_op.drop_index(batch_op.f('ix_notify_receipt_early_provider_ref'))

    op.drop_table('notify_receipt_early')
    with op.batch_alter_table('notify_message', schema=None) as batch_op:
        batch_op.drop_index('ix_notify_message_address_sent')
        batch_op.drop_index('ix_notify_message_state_seq')
        batch_op.drop_index(batch_op.f('ix_notify_message_provider_ref'))
        batch_op.drop_index(batch_op.f('ix_notify_message_application_id'))

    op.drop_table('notify_message')
    with op.batch_alter_table('notify_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_attempt_message_id'))

    op.drop_table('notify_attempt')
    with op.batch_alter_table('event_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_event_queue_consumer_subject')
        batch_op.drop_index('ix_event_queue_consumer_seq')

    op.drop_table('event_queue')
