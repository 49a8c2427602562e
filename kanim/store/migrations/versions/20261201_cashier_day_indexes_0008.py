"""cashier's day: indexes on when an application was paid and when its billing code expires

The cashier's page sums the day's payments (paid_at in the local day) and the day's billing
codes (billing_expires_at, a fixed time after issue); without these indexes both read every
application the office ever had. Partial (rows that have the time), so that the search for
unpaid applications keeps to the stage index.

Revision ID: 0008_cashier
Revises: 0007_retry
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_cashier'
down_revision = '0007_retry'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ('paid_at', 'billing_expires_at'):
        present = sa.text(f'{column} IS NOT NULL')
        op.create_index(f'ix_application_{column}', 'application', [column], unique=False,
                        sqlite_where=present, postgresql_where=present)


def downgrade() -> None:
    op.drop_index('ix_application_billing_expires_at', table_name='application')
    op.drop_index('ix_application_paid_at', table_name='application')
