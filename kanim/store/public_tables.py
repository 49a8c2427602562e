"""Tables of the public side's outreach (docs/public.md):

- status_subscriber: someone who asked for the status page's news on WhatsApp, SMS or email;
  `pending` until they confirm (double opt-in: a link, or a reply YA), then `active`, and
  `ended` when they unsubscribe (the link in every message, or a reply STOP / BERHENTI). The
  address is personal data: never logged, shown masked to staff.
- announcement: a supervisor's one message to a set of applicants, as sent: who, when, which
  set, how many were written to and how many had no channel.

- track_code: a one-time code /track sent to the applicant's channel before it shows details
  (`KANIM_TRACK_CODE`): kept as a keyed hash, for 10 minutes, used once, a few tries.

Posts to the office's social channels are rows of `notify_alert` (kind `social_post`), sent by
the worker's office-alert sender (kanim/notify/alerts.py).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, UniqueConstraint

from kanim.store.tables import BigId, metadata
from kanim.store.types import UTCDateTime

status_subscriber = Table(
    "status_subscriber", metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(16), nullable=False),  # whatsapp | sms | email
    Column("address", String(254), nullable=False),  # E.164 or email: contact data, never logged
    Column("language", String(5), nullable=False),
    Column("state", String(12), nullable=False),  # pending | active | ended
    # The subscriber's links (`<public url>/s/<code>`, `/s/<code>/stop`): random, short for an SMS.
    Column("code", String(12), nullable=False, unique=True),
    Column("asked", Integer, nullable=False, default=0),  # confirmations sent for this address
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("ended_how", String(16)),  # link | reply | staff
    UniqueConstraint("channel", "address", name="uq_status_subscriber_channel_address"),
)
Index("ix_status_subscriber_state", status_subscriber.c.state)
Index("ix_status_subscriber_address", status_subscriber.c.address)

announcement = Table(
    "announcement", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("selection", JSON, nullable=False),  # {"stage": "qc_passed", "pickup_on": null, "not_collected": false}
    Column("text_id", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("applications", Integer, nullable=False),  # in the set
    Column("recipients", Integer, nullable=False),  # messages written (one per contact)
    Column("no_channel", Integer, nullable=False),  # applications with no phone or email
    Column("social", Integer, nullable=False, default=0),  # social posts written with it
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

track_code = Table(
    "track_code", metadata,
    Column("id", String(36), primary_key=True),  # the challenge the page and the API carry
    Column("application_id", String(36), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),  # HMAC of the code with the digest key: never the code
    Column("channel", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)
