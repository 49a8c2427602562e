"""status: the public status page's incidents, their updates and staff overrides of a
component's level (kanim/domain/status_page.py)

Revision ID: 0012_status
Revises: 0011_chip
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_status'
down_revision = '0011_chip'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_incident',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('title_id', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('impact', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_incident')))
    op.create_index('ix_status_incident_starts_at', 'status_incident', ['starts_at'], unique=False)
    op.create_table('status_update',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('body_id', sa.Text(), nullable=False),
    sa.Column('body_en', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['status_incident.id'],
                            name=op.f('fk_status_update_incident_id_status_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_update')))
    op.create_index(op.f('ix_status_update_incident_id'), 'status_update', ['incident_id'], unique=False)
    op.create_table('status_override',
    sa.Column('component', sa.String(length=24), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('reason_id', sa.String(length=300), nullable=False),
    sa.Column('reason_en', sa.String(length=300), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('set_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('component', name=op.f('pk_status_override')))


def downgrade() -> None:
    op.drop_table('status_override')
    op.drop_index(op.f('ix_status_update_incident_id'), table_name='status_update')
    op.drop_table('status_update')
    op.drop_index('ix_status_incident_starts_at', table_name='status_incident')
    op.drop_table('status_incident')
