"""public_outreach: status-page subscribers, announcements to applicants, /track's one-time codes (docs/public.md)

Revision ID: 0014_public_outreach
Revises: 0013_tickets
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_public_outreach'
down_revision = '0013_tickets'
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('status_subscriber',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('asked', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_how', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_subscriber')),
    sa.UniqueConstraint('channel', 'address', name='uq_status_subscriber_channel_address'),
    sa.UniqueConstraint('code', name=op.f('uq_status_subscriber_code')))
    op.create_index('ix_status_subscriber_state', 'status_subscriber', ['state'], unique=False)
    op.create_index('ix_status_subscriber_address', 'status_subscriber', ['address'], unique=False)
    op.create_table('announcement',
    sa.Column('seq', _id(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('selection', sa.JSON(), nullable=False),
    sa.Column('text_id', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('no_channel', sa.Integer(), nullable=False),
    sa.Column('social', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_announcement')),
    sa.UniqueConstraint('id', name=op.f('uq_announcement_id')))
    op.create_table('track_code',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_track_code')))
    op.create_index(op.f('ix_track_code_application_id'), 'track_code', ['application_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_track_code_application_id'), table_name='track_code')
    op.drop_table('track_code')
    op.drop_table('announcement')
    op.drop_index('ix_status_subscriber_address', table_name='status_subscriber')
    op.drop_index('ix_status_subscriber_state', table_name='status_subscriber')
    op.drop_table('status_subscriber')
