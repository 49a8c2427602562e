"""The central hub's tables. They live in the same schema history as the office's (one Alembic
chain), so the staff accounts and the audit chain serve both roles; a node only fills the
tables of its role. See docs/link.md for why."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from kanim.store.tables import BigId, metadata
from kanim.domain.application import Stage
from kanim.store.types import StrEnumType, UTCDateTime

central_office = Table(
    "central_office", metadata,
    Column("code", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("public_key", String(64), nullable=False),  # Ed25519, base64: verifies its requests
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_contact_at", UTCDateTime),
    Column("reported_link_state", String(12)),  # what the office's breaker said last
    # The highest cursor the office read the feed after: the events it had applied. A rebuilt
    # office does not apply the decisions among them again (kanim/backup/rebuild.py).
    Column("feed_cursor", BigId),
)

# Every operation answered, by (office, operation id), with the answer given: a batch resent
# after a crash gets the same answers and changes nothing (exactly-once per office and id). The
# body's digest tells a resend from an id reused with another body.
central_operation = Table(
    "central_operation", metadata,
    Column("office_code", String(8), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("op", String(48), nullable=False),
    Column("office_seq", BigId, nullable=False),
    Column("received_at", UTCDateTime, nullable=False, index=True),  # the national view's history
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("size_bytes", Integer, nullable=False, default=0),
    Column("body_sha256", String(64)),  # NULL for operations recorded before it was kept
    # The payload as applied, without its images (registry_biometric keeps them sealed): what
    # an office rebuilt from the central gets back (GET /api/v1/link/history). NULL for a
    # refusal and for operations applied before it was kept.
    Column("payload", JSON),
    Index("ix_central_operation_office_seq", "office_code", "office_seq"),
)

# Nonces of signed link requests seen within the replay window: a captured request cannot be
# replayed (docs/link.md). Rows older than the window are pruned.
link_nonce = Table(
    "link_nonce", metadata,
    Column("office_code", String(8), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

registry_application = Table(
    "registry_application", metadata,
    Column("id", String(36), primary_key=True),  # the office's application id
    Column("office_code", String(8), nullable=False, index=True),
    Column("number", String(32), nullable=False),
    Column("nik", String(16), index=True),
    Column("full_name", String(200)),
    Column("birth_date", Date),
    Column("sex", String(1)),
    Column("app_type", String(24), nullable=False),
    Column("passport_kind", String(16), nullable=False),
    Column("stage", StrEnumType(Stage, 16), nullable=False, index=True),
    Column("booklet_serial", String(9)),
    Column("created_at", UTCDateTime, nullable=False, index=True),  # the national view's history
    Column("updated_at", UTCDateTime, nullable=False, index=True),
    Column("last_office_seq", BigId, nullable=False, default=0),
    Index("ix_registry_application_office_stage", "office_code", "stage"),
)

registry_passport = Table(
    "registry_passport", metadata,
    Column("serial", String(9), primary_key=True),
    Column("application_id", String(36), nullable=False, index=True),
    Column("office_code", String(8), nullable=False),
    Column("nik", String(16), index=True),
    Column("issued_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(12), nullable=False),  # printed | issued | voided
    Column("updated_at", UTCDateTime, nullable=False),
)

registry_biometric = Table(
    "registry_biometric", metadata,
    Column("application_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),  # 0 face, 1-10 fingers
    Column("office_code", String(8), nullable=False),
    Column("exception", String(16)),
    Column("sha256", String(64)),
    Column("size_bytes", Integer, nullable=False, default=0),
    # The image sealed with the central's biometric key (kanim.central.biometrics): AES-256-GCM,
    # the key apart from the database, the key's id inside the blob so keys can be rotated.
    Column("sealed", LargeBinary),
    Column("data", Text),  # legacy plaintext (base64); sealed and emptied when the central starts
)

# The civil registry (Dukcapil) as the built-in adapter sees it, loaded from CSV.
civil_registry = Table(
    "civil_registry", metadata,
    Column("nik", String(16), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(1), nullable=False),
    Column("kk_number", String(16)),
    Column("loaded_at", UTCDateTime, nullable=False),
)

watchlist_order = Table(
    "watchlist_order", metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_kind", String(16), nullable=False),  # nik | passport
    Column("subject_value", String(16), nullable=False, index=True),
    Column("order_kind", String(16), nullable=False),  # prevention | temporary | deterrence
    Column("agency", String(64), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

central_payment = Table(
    "central_payment", metadata,
    Column("billing_code", String(15), primary_key=True),
    Column("application_id", String(36), nullable=False, index=True),
    Column("office_code", String(8), nullable=False),
    Column("amount", Integer, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("office_receipt_ref", String(64)),  # the office recorded the applicant's receipt
    Column("office_paid_at", UTCDateTime),
    Column("confirmed_at", UTCDateTime),
)

# What the treasury/bank says was paid, kept whether or not the central has heard of the billing
# code yet: the office's BillingIssued may still be queued behind an outage, and a payment must
# never be lost for arriving first (the two weeks of "waiting for payment" in June 2024).
treasury_payment = Table(
    "treasury_payment", metadata,
    Column("billing_code", String(15), primary_key=True),
    Column("amount", Integer, nullable=False),
    Column("paid_at", UTCDateTime, nullable=False),
    Column("reference", String(64), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
)

payment_issue = Table(
    "payment_issue", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("billing_code", String(15), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # amount | unknown_code | paid_twice
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(64)),
)

booklet_allocation = Table(
    "booklet_allocation", metadata,
    Column("id", String(36), primary_key=True),
    Column("office_code", String(8), nullable=False, index=True),
    Column("first_serial", String(9), nullable=False),
    Column("last_serial", String(9), nullable=False),
    Column("count", Integer, nullable=False),
    Column("allocated_at", UTCDateTime, nullable=False),
    UniqueConstraint("first_serial", name="uq_booklet_allocation_first"),
)

# The feed every office pulls after its cursor: clearance decisions, watch-list deltas,
# booklet allocations. `office_code` NULL means for every office.
central_event = Table(
    "central_event", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("office_code", String(8), index=True),
    Column("kind", String(32), nullable=False),  # clearance | watchlist | allocation | rebuild
    Column("subject", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

central_state = Table(
    "central_state", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(200), nullable=False),
)
