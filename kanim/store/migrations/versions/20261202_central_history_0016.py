"""central history: what each office sent, kept so that an office can be rebuilt from the central

central_operation.payload: the operation's payload as the central applied it, without its
images (the registry keeps those sealed in registry_biometric). `GET /api/v1/link/history`
gives an office back what it sent (kanim/backup/rebuild.py). NULL for operations applied before
it was kept, and for refusals. The index reads one office's operations in its own order.

central_office.feed_cursor: the highest cursor the office asked the feed after, i.e. the
central's events it had applied; a rebuilt office does not apply again the decisions among them
(its history already carries what they did).

Revision ID: 0016_central_history
Revises: 0015_telegram
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016_central_history'
down_revision = '0015_telegram'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('central_operation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.create_index('ix_central_operation_office_seq', ['office_code', 'office_seq'], unique=False)
    with op.batch_alter_table('central_office', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_cursor', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('central_office', schema=None) as batch_op:
        batch_op.drop_column('feed_cursor')
    with op.batch_alter_table('central_operation', schema=None) as batch_op:
        batch_op.drop_index('ix_central_operation_office_seq')
        batch_op.drop_column('payload')
