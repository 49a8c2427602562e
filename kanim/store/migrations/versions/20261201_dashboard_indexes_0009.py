"""dashboard: indexes for the desks at a year's size, the backlog's history and the national view

Revision ID: 0009_dashboard
Revises: 0008_cashier
Create Date: 2026-12-01

Measured with 100,000 older applications and 1.2 million outbox rows (bench/desk_pages.py):
- application.booking_id: the front desk's day joined bookings to applications by scanning
  every application once per booking (5.4 s); with the index, 2.5 ms.
- application (created_at, full_name): a name search reads the newest first and stops after
  its 25 hits, checking names in the index without reading the rows.
- outbox.sent_at: the drain rate (operations sent in the last minute) scanned every sent row
  (175 ms); the backlog's history reads the operations sent since an incident began.
- outbox.queued_at: the backlog's history reads what entered the queue since then. Rows from
  before queued_at existed get their created_at (when they first entered the queue), so that
  one column says it.
- central_operation.received_at, registry_application created_at and updated_at: the national
  view's history of operations received and applications open.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_dashboard'
down_revision = '0008_cashier'
branch_labels = None
depends_on = None

INDEXES = [
    ('application', 'ix_application_booking_id', ['booking_id']),
    ('application', 'ix_application_created_name', ['created_at', 'full_name']),
    ('outbox', 'ix_outbox_sent_at', ['sent_at']),
    ('outbox', 'ix_outbox_queued_at', ['queued_at']),
    ('central_operation', 'ix_central_operation_received_at', ['received_at']),
    ('registry_application', 'ix_registry_application_created_at', ['created_at']),
    ('registry_application', 'ix_registry_application_updated_at', ['updated_at']),
]


def upgrade() -> None:
    outbox = sa.table('outbox', sa.column('queued_at'), sa.column('created_at'))
    op.execute(outbox.update().where(outbox.c.queued_at.is_(None)).values(queued_at=outbox.c.created_at))
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
