"""office alerts, and pickup slots to confirm by phone

notify_alert: what the office's own staff are told (a channel's setup refused, a channel
unreachable), sent to the office's Apprise URL (a Telegram group, say) by the notification
worker, from a row written in the transaction that noticed it (kanim/notify/alerts.py);
pickup_assignment.needs_call: a slot on or after the applicant's travel date, for staff to call.

Revision ID: 0011_office_alert
Revises: 0010_notify
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_office_alert'
down_revision = '0010_notify'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_alert',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_notify_alert')),
    sa.UniqueConstraint('id', name=op.f('uq_notify_alert_id')),
    )
    with op.batch_alter_table('notify_alert', schema=None) as batch_op:
        batch_op.create_index('ix_notify_alert_kind_subject', ['kind', 'subject', 'created_at'], unique=False)
        batch_op.create_index('ix_notify_alert_state_seq', ['state', 'seq'], unique=False)
    with op.batch_alter_table('pickup_assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('needs_call', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('pickup_assignment', schema=None) as batch_op:
        batch_op.drop_column('needs_call')
    with op.batch_alter_table('notify_alert', schema=None) as batch_op:
        batch_op.drop_index('ix_notify_alert_state_seq')
        batch_op.drop_index('ix_notify_alert_kind_subject')
    op.drop_table('notify_alert')
