"""link hardening: idempotency per office, replay nonces, sealed central biometrics

Revision ID: 0003_link
Revises: 0002
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_link'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Operation ids are unique per office, not globally: another office reusing an id must
    # get its own operation applied, not the first office's stored answer.
    with op.batch_alter_table('central_operation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f('ix_central_operation_office_code'))  # the key leads with it now
        batch_op.drop_constraint('pk_central_operation', type_='primary')
        batch_op.create_primary_key('pk_central_operation', ['office_code', 'id'])
    op.create_table('link_nonce',
    sa.Column('office_code', sa.String(length=8), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('office_code', 'nonce', name=op.f('pk_link_nonce'))
    )
    with op.batch_alter_table('link_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_nonce_seen_at'), ['seen_at'], unique=False)
    with op.batch_alter_table('registry_biometric', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_subject_seq', ['subject', 'seq'], unique=False)
    # The link's small state now holds the relay lease and why the feed waits: text, unbounded.
    with op.batch_alter_table('link_cursor', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('link_cursor', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_subject_seq')
    with op.batch_alter_table('registry_biometric', schema=None) as batch_op:
        batch_op.drop_column('sealed')
    with op.batch_alter_table('link_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_nonce_seen_at'))
    op.drop_table('link_nonce')
    with op.batch_alter_table('central_operation', schema=None) as batch_op:
        batch_op.drop_constraint('pk_central_operation', type_='primary')
        batch_op.create_primary_key('pk_central_operation', ['id'])
        batch_op.create_index(batch_op.f('ix_central_operation_office_code'), ['office_code'], unique=False)
        batch_op.drop_column('body_sha256')
