"""console sessions: a session's client and last use, a staff member's language

Revision ID: 0006_console
Revises: 0005_contract
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_console'
down_revision = '0005_contract'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), server_default='id', nullable=False))
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=8), server_default='api', nullable=False))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('client')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('language')
