"""Tables. Singular snake_case names, timestamps ending in `_at`, dates in `_on`.

Domain objects are plain dataclasses mapped imperatively (see `mapping.py`), so the domain
imports nothing from here.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from kanim.domain.fingers import FingerException
from kanim.domain.application import Priority, Stage
from kanim.domain.booklet import BookletStatus, SpoilReason
from kanim.domain.clearances import ClearanceState
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.store.types import HandoverJSON, StrEnumType, UTCDateTime

# A naming convention makes constraint names stable across SQLite and PostgreSQL, so that
# Alembic can alter them by name (batch mode on SQLite needs names).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_CLEARANCE = dict(nullable=False, default=ClearanceState.PENDING, server_default="pending")
BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

booking = Table(
    "booking", metadata,
    Column("id", String(36), primary_key=True),
    Column("account_ref", String(80), nullable=False),  # the online account that booked
    Column("appointment_on", Date, nullable=False),
    Column("slot", String(5), nullable=False),  # "08:00"
    Column("contact_phone", String(32)),
    Column("contact_email", String(254)),
    Column("preferred_channel", String(16)),
    Column("contact_telegram", String(32)),  # the chat id, once the applicant started the office's bot
    Column("language", String(5), nullable=False, server_default="id"),  # the applicant's: id | en
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_booking_day_slot", "appointment_on", "slot"),
)

application = Table(
    "application", metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("office_code", String(8), nullable=False),
    Column("booking_id", String(36), ForeignKey("booking.id")),
    Column("full_name", String(200), nullable=False),
    Column("nik", String(16), nullable=False, index=True),
    Column("birth_date", Date, nullable=False),
    Column("birth_place", String(100), nullable=False, default=""),
    Column("sex", StrEnumType(Sex, 1), nullable=False),
    Column("kk_number", String(16), nullable=False, default=""),
    Column("app_type", StrEnumType(ApplicationType, 24), nullable=False),
    Column("passport_kind", StrEnumType(PassportKind, 16), nullable=False),
    Column("appointment_on", Date, index=True),
    Column("priority", StrEnumType(Priority, 16), nullable=False, default=Priority.NONE),
    Column("travel_date", Date),
    Column("stage", StrEnumType(Stage, 16), nullable=False, index=True),
    Column("nik_verified", StrEnumType(ClearanceState, 12), **_CLEARANCE),
    Column("watchlist_clear", StrEnumType(ClearanceState, 12), **_CLEARANCE),
    Column("not_duplicate", StrEnumType(ClearanceState, 12), **_CLEARANCE),
    Column("payment_confirmed", StrEnumType(ClearanceState, 12), **_CLEARANCE),
    Column("recorded_centrally", StrEnumType(ClearanceState, 12), **_CLEARANCE),
    Column("queue_ticket", String(8)),
    Column("fee_total", Integer),
    Column("billing_code", String(15), unique=True),
    Column("billing_expires_at", UTCDateTime),
    Column("paid_at", UTCDateTime),
    Column("payment_receipt_ref", String(64)),
    Column("interviewed_at", UTCDateTime),
    Column("interview_notes", Text),
    Column("ready_by", Date),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(64)),
    Column("decision_reason", Text),
    Column("booklet_serial", String(9)),
    Column("mrz_line1", String(44)),
    Column("mrz_line2", String(44)),
    Column("issued_on", Date),
    Column("expires_on", Date),
    Column("printed_at", UTCDateTime),
    Column("handed_over_at", UTCDateTime),
    Column("handover", HandoverJSON),
    Column("held_from", StrEnumType(Stage, 16)),
    Column("hold_reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime),
    Column("version", Integer, nullable=False, default=1),  # optimistic lock: lost updates fail
)

# The cashier's day: payments made today, billing codes issued today. Partial (only rows that
# have the time), so that a search for unpaid applications keeps to the stage index.
Index("ix_application_paid_at", application.c.paid_at,
      sqlite_where=application.c.paid_at.is_not(None), postgresql_where=application.c.paid_at.is_not(None))
Index("ix_application_billing_expires_at", application.c.billing_expires_at,
      sqlite_where=application.c.billing_expires_at.is_not(None),
      postgresql_where=application.c.billing_expires_at.is_not(None))

document_scan = Table(
    "document_scan", metadata,
    Column("id", String(36), primary_key=True),
    Column("application_id", String(36), ForeignKey("application.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("file_ref", String(80), nullable=False),  # encrypted file in the vault
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    UniqueConstraint("application_id", "kind", name="uq_document_scan_application_kind"),
)

biometric = Table(
    "biometric", metadata,
    Column("id", String(36), primary_key=True),
    Column("application_id", String(36), ForeignKey("application.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # face | fingerprint
    Column("position", Integer, nullable=False, default=0),  # finger 1-10; 0 for the face
    Column("exception", StrEnumType(FingerException, 16)),  # missing | injured | unreadable (no image then)
    Column("file_ref", String(80)),
    Column("width", Integer),
    Column("height", Integer),
    Column("quality", JSON),  # what the checks measured
    Column("captured_at", UTCDateTime, nullable=False),
    Column("captured_by", String(64), nullable=False),
    UniqueConstraint("application_id", "kind", "position", name="uq_biometric_app_kind_position"),
)

booklet_batch = Table(
    "booklet_batch", metadata,
    Column("id", String(36), primary_key=True),
    Column("first_serial", String(9), nullable=False),
    Column("last_serial", String(9), nullable=False),
    Column("count", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("received_by", String(64), nullable=False),
)

booklet = Table(
    "booklet", metadata,
    Column("serial", String(9), primary_key=True),
    Column("batch_id", String(36), ForeignKey("booklet_batch.id"), nullable=False),
    Column("status", StrEnumType(BookletStatus, 12), nullable=False, index=True),
    Column("application_id", String(36), ForeignKey("application.id")),
    Column("received_at", UTCDateTime, nullable=False),
    Column("issued_at", UTCDateTime),
    Column("spoiled_at", UTCDateTime),
    Column("spoil_reason", StrEnumType(SpoilReason, 24)),
    Column("spoil_note", Text),
)

daily_counter = Table(
    "daily_counter", metadata,
    Column("day", Date, primary_key=True),
    Column("name", String(16), primary_key=True),  # application | ticket_A | ticket_W
    Column("value", Integer, nullable=False),
)

fee_item = Table(
    "fee_item", metadata,
    Column("code", String(48), primary_key=True),  # "ordinary_5y", "surcharge_replacement_lost"
    Column("amount", BigInteger, nullable=False),  # rupiah
    Column("description", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

holiday = Table(
    "holiday", metadata,
    Column("day", Date, primary_key=True),
    Column("name", String(120), nullable=False),
)

watchlist_snapshot = Table(
    "watchlist_snapshot", metadata,
    Column("id", String(36), primary_key=True),
    Column("taken_at", UTCDateTime, nullable=False),  # when the central cut it
    Column("loaded_at", UTCDateTime, nullable=False),
    Column("source", String(64), nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("signature", Text),  # verified by the link (central issue); kept for audit
)

watchlist_entry = Table(
    "watchlist_entry", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("snapshot_id", String(36), ForeignKey("watchlist_snapshot.id"), nullable=False, index=True),
    Column("order_id", String(36)),  # the central's order id, for revocations
    Column("subject_kind", String(16), nullable=False),  # nik | passport
    Column("subject_value", String(16), nullable=False, index=True),
    Column("order_kind", String(16), nullable=False),  # prevention | temporary | deterrence
    Column("agency", String(64), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("reason", Text, nullable=False),
)

staff_user = Table(
    "staff_user", metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("role", String(24), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("language", String(5), nullable=False, server_default="id"),  # the console's: id | en
)

staff_session = Table(
    "staff_session", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the bearer token
    Column("user_id", String(36), ForeignKey("staff_user.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # "api": a bearer token; "console": a browser's cookie, which also ends after idle time.
    Column("client", String(8), nullable=False, server_default="api"),
    Column("last_seen_at", UTCDateTime),
)

# Failed logins, per account and per client address (kanim/domain/throttle.py). In the database,
# not in memory: every `kanim serve --workers N` process and a restart must see the same counts.
login_throttle = Table(
    "login_throttle", metadata,
    Column("key", String(80), primary_key=True),  # account:<sha256 of the username typed> | address:<ip>
    Column("kind", String(8), nullable=False),  # account | address
    Column("user_id", String(36), index=True),  # the account, when the username typed exists
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failed_at", UTCDateTime),
    Column("blocked_until", UTCDateTime),
    Column("locked_until", UTCDateTime),
)

audit_event = Table(
    "audit_event", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(64), nullable=False, index=True),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row. Every audited transaction updates it, which (a) serialises appends to the chain on
# PostgreSQL through its row lock and (b) remembers the tail, so deleting the newest rows shows.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),  # total order of creation
    Column("id", String(36), nullable=False, unique=True),  # globally unique operation id
    Column("subject", String(64), nullable=False, index=True),  # application id: order kept per subject
    Column("op", String(48), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("queued_at", UTCDateTime),  # when it last entered the queue (a rebuild re-queues history)
    Column("status", String(12), nullable=False, default="pending", index=True),  # pending|sent|dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("retried_at", UTCDateTime),  # a dead letter put back in the queue by staff
)

# Central decisions already applied at this office, by their id: a decision delivered twice
# (the relay retried, the inbox re-pulled) changes nothing the second time.
inbox_event = Table(
    "inbox_event", metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(32), nullable=False),  # applied | no_change | unknown_subject
)

link_cursor = Table(
    "link_cursor", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Text, nullable=False),
)

# Link health: every change of the breaker's state is an incident with a start and an end.
link_incident = Table(
    "link_incident", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(12), nullable=False),  # degraded | down
    Column("reason", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)

# Serial ranges the central allocated to this office: booklets outside them are refused.
allocated_range = Table(
    "allocated_range", metadata,
    Column("id", String(36), primary_key=True),
    Column("first_serial", String(9), nullable=False),
    Column("last_serial", String(9), nullable=False),
    Column("count", Integer, nullable=False),
    Column("allocated_at", UTCDateTime, nullable=False),
)

# The relay's queue order (most urgent first, then oldest) straight from an index: without it
# every round sorts the whole backlog, which after a long outage is the whole day.
Index("ix_outbox_queue", outbox.c.status, outbox.c.priority.desc(), outbox.c.seq)
# The relay asks, per queued row, whether an earlier row of its application holds it back.
Index("ix_outbox_subject_seq", outbox.c.subject, outbox.c.seq)
# The dashboard and the desks at a year's size (migration 0007, measured in bench/desk_pages.py):
# the drain rate and the backlog's history read the rows sent, and queued, since a moment; a
# name search reads the newest applications first and checks names in the index; the front
# desk's day finds each booking's applications.
Index("ix_outbox_sent_at", outbox.c.sent_at)
Index("ix_outbox_queued_at", outbox.c.queued_at)
Index("ix_application_booking_id", application.c.booking_id)
Index("ix_application_created_name", application.c.created_at, application.c.full_name)

# Idempotency-Key claims (kanim/store/idempotency.py): one per staff user and key, with the
# first answer once it is known, kept at least KANIM_IDEMPOTENCY_HOURS.
idempotency_key = Table(
    "idempotency_key", metadata,
    Column("username", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path, query and body
    Column("state", String(12), nullable=False),  # in_flight | applied | done
    Column("owner", String(32), nullable=False),  # the request holding the claim
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("claimed_at", UTCDateTime, nullable=False),  # the owner's lease starts here
    Column("status", Integer),
    Column("headers", JSON),
    Column("body", LargeBinary),
)


# -- domain events fanned out (kanim/store/fanout.py, docs/events.md) ---------------------------
# A consumer that works after the commit (notifications today; the status page and the complaint
# desk next) gets a row here in the event's own transaction, and the row leaves in the
# transaction that does the consumer's work: a crash can neither lose nor repeat it. The relay's
# queue is `outbox`, written by the same fan-out, with the link's own columns.
event_queue = Table(
    "event_queue", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("consumer", String(32), nullable=False),
    Column("event_id", String(36), nullable=False),  # one id per event, shared by its consumers
    Column("name", String(48), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),  # the exception's type and problem code: never its personal data
    Column("dead", Boolean, nullable=False, default=False),
    UniqueConstraint("consumer", "event_id", name="uq_event_queue_consumer_event"),
)
Index("ix_event_queue_consumer_seq", event_queue.c.consumer, event_queue.c.seq)
Index("ix_event_queue_consumer_subject", event_queue.c.consumer, event_queue.c.subject, event_queue.c.seq)

# -- notifications (kanim/notify, kanim/office/notify.py, docs/notifications.md) -----------------
# An office's switches over the rules: a purpose with no row is on.
notify_rule = Table(
    "notify_rule", metadata,
    Column("purpose", String(24), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

# One message per (purpose, scope, recipient): `key` is their digest and unique, so a rule run
# twice for one event, or a worker that died after writing, never makes a second message.
notify_message = Table(
    "notify_message", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),  # the order messages wait in
    Column("id", String(36), nullable=False, unique=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("purpose", String(24), nullable=False),
    Column("application_id", String(36), index=True),
    Column("booking_id", String(36)),
    Column("channel", String(16), nullable=False),  # the channel it is on now
    Column("address", String(254), nullable=False),  # E.164 or email: contact data, never logged
    Column("fallbacks", JSON, nullable=False),  # [[channel, address], ...] still to try
    Column("language", String(5), nullable=False),
    Column("params", JSON, nullable=False),  # what the template is rendered with (no NIK, no full name)
    Column("template", String(64)),  # the template and version it was (last) rendered from
    Column("version", Integer),
    Column("state", String(20), nullable=False),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),  # on the current channel
    Column("not_before", UTCDateTime),  # a reminder waits for its moment
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_by", String(64)),  # the worker holding it while `sending`
    Column("provider_ref", String(128), index=True),  # WhatsApp's wamid: receipts find it by this
    Column("reason", String(120)),  # why it failed last: a code, never contact data
    Column("created_at", UTCDateTime, nullable=False),
    Column("first_failed_at", UTCDateTime),  # when its channel first failed (retries stop after a while)
    Column("sent_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("read_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_notify_message_state_seq", notify_message.c.state, notify_message.c.seq)
# The per-recipient hourly cap reads what went to an address in the last hour.
Index("ix_notify_message_address_sent", notify_message.c.address, notify_message.c.sent_at)

# Every try of a message, on whichever channel: the message's history in the console.
notify_attempt = Table(
    "notify_attempt", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),  # accepted | temporary | permanent | technical | receipt:*
    Column("reason", String(120), nullable=False, default=""),
    Column("provider_ref", String(128)),
)

# WhatsApp receipts that came before the send's answer was recorded (the webhook can outrun the
# worker's commit): kept a day, applied when the message's wamid is stored.
notify_receipt_early = Table(
    "notify_receipt_early", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_ref", String(128), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("error_code", BigInteger),
    Column("received_at", UTCDateTime, nullable=False, index=True),
)

# Replies already acted on, by the channel's message id: Meta delivers a webhook at least once,
# and a GANTI delivered twice must not move a slot twice.
notify_inbound = Table(
    "notify_inbound", metadata,
    Column("id", String(128), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
)

# Addresses that asked to hear nothing more (a reply STOP / BERHENTI, or the link).
notify_optout = Table(
    "notify_optout", metadata,
    Column("address", String(254), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("how", String(16), nullable=False),  # reply | link | staff
)

# What the office's own staff are told through its office URL (kanim/notify/alerts.py): a
# channel whose setup the provider refused, a channel not reached at all.
notify_alert = Table(
    "notify_alert", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),  # a channel name: never contact data
    Column("params", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # created | temporary-failure | sent | technical-failure
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("reason", String(120)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_notify_alert_kind_subject", notify_alert.c.kind, notify_alert.c.subject, notify_alert.c.created_at)
Index("ix_notify_alert_state_seq", notify_alert.c.state, notify_alert.c.seq)

# -- staged pickup (kanim/domain/pickup.py, kanim/office/pickup_slots.py) ------------------------
pickup_assignment = Table(
    "pickup_assignment", metadata,
    Column("application_id", String(36), ForeignKey("application.id"), primary_key=True),
    Column("booking_id", String(36)),
    Column("day", Date, nullable=False),
    Column("slot", String(5), nullable=False),
    Column("state", String(12), nullable=False),  # offered | confirmed | collected
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("moves", Integer, nullable=False, default=0),  # asked for another slot, or missed one
    # Its slot is on or after the applicant's travel date: staff call them (kanim/domain/pickup.py).
    Column("needs_call", Boolean, nullable=False, default=False, server_default=false()),
    # The applicant's link (`<public url>/p/<code>`): random, short enough for an SMS.
    Column("code", String(12), nullable=False, unique=True),
    Index("ix_pickup_assignment_day_slot", "day", "slot"),
)

# Extra pickup service a supervisor opened (a Saturday): the waiting queue fills it.
pickup_extra = Table(
    "pickup_extra", metadata,
    Column("day", Date, primary_key=True),
    Column("slots", JSON, nullable=False),  # ["08:00", "09:00", ...]
    Column("seats", Integer, nullable=False),  # per slot
    Column("opened_by", String(64), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
)



# -- the complaint desk (docs/tickets.md) ---------------------------------------------------------

ticket = Table(
    "ticket", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),  # the ticket's number: T-<seq>
    Column("id", String(36), nullable=False, unique=True),
    Column("source", String(16), nullable=False),  # kanim.domain.tickets.Source
    Column("state", String(16), nullable=False),  # kanim.domain.tickets.TicketState
    Column("subject", String(200), nullable=False),
    Column("channel", String(16), nullable=False),  # where replies go: whatsapp, sms, email or none
    Column("address", String(254), nullable=False),  # E.164 or email: contact data, never logged
    Column("contact_name", String(80), nullable=False),  # how replies greet them ("" if not given)
    Column("language", String(5), nullable=False),
    Column("application_id", String(36), index=True),
    Column("booking_id", String(36)),
    Column("lapor_ref", String(40), unique=True),  # SP4N-LAPOR!'s reference number
    Column("assignee", String(64)),
    Column("opened_on", Date, nullable=False),  # the office's local day: the SLA clocks count from it
    Column("pauses", JSON, nullable=False),  # [[start ISO day, end ISO day or null], ...] waiting for the applicant
    Column("opened_at", UTCDateTime, nullable=False),
    Column("first_response_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("last_inbound_at", UTCDateTime),  # the applicant's latest message (WhatsApp's 24-hour window)
    Column("created_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_ticket_state_opened", ticket.c.state, ticket.c.opened_on)
Index("ix_ticket_address_state", ticket.c.address, ticket.c.state)

ticket_entry = Table(
    "ticket_entry", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", String(36), ForeignKey("ticket.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # inbound | reply | note | state | assign
    Column("body", Text, nullable=False),  # the applicant's or the office's words; never logged
    Column("actor", String(64), nullable=False),
    Column("message_id", String(36)),  # a reply's notify_message
    Column("at", UTCDateTime, nullable=False),
)


from kanim.store.chip_tables import chip_image, csca_anchor, csca_crl, document_signer, registry_chip  # noqa: E402,F401  (docs/chip.md)
from kanim.store.status_tables import status_incident, status_override, status_update  # noqa: E402,F401  (the public status page)
from kanim.store.public_tables import announcement, status_subscriber, track_code  # noqa: E402,F401  (docs/public.md)
