"""telegram: an applicant's chat with the office's Telegram bot

booking.contact_telegram: the chat id Telegram gives when the applicant opens the booking's
start link and presses Start (kanim/office/telegram.py); until then a booking whose preferred
channel is telegram is told on its phone number.

Revision ID: 0015_telegram
Revises: 0014_public_outreach
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_telegram'
down_revision = '0014_public_outreach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_telegram', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_column('contact_telegram')
