"""tickets: the complaint desk's tickets and their entries (docs/tickets.md)

Revision ID: 0013_tickets
Revises: 0012_status
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_tickets'
down_revision = '0012_status'  # re-chained at merge
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('ticket',
    sa.Column('seq', _id(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('contact_name', sa.String(length=80), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=True),
    sa.Column('booking_id', sa.String(length=36), nullable=True),
    sa.Column('lapor_ref', sa.String(length=40), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('pauses', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_inbound_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ticket')),
    sa.UniqueConstraint('id', name=op.f('uq_ticket_id')),
    sa.UniqueConstraint('lapor_ref', name=op.f('uq_ticket_lapor_ref')))
    op.create_index(op.f('ix_ticket_application_id'), 'ticket', ['application_id'], unique=False)
    op.create_index('ix_ticket_state_opened', 'ticket', ['state', 'opened_on'], unique=False)
    op.create_index('ix_ticket_address_state', 'ticket', ['address', 'state'], unique=False)
    op.create_table('ticket_entry',
    sa.Column('id', _id(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_entry_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_entry')))
    op.create_index(op.f('ix_ticket_entry_ticket_id'), 'ticket_entry', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_entry_ticket_id'), table_name='ticket_entry')
    op.drop_table('ticket_entry')
    op.drop_index('ix_ticket_address_state', table_name='ticket')
    op.drop_index('ix_ticket_state_opened', table_name='ticket')
    op.drop_index(op.f('ix_ticket_application_id'), table_name='ticket')
    op.drop_table('ticket')
