"""Tables of the office's public status page (kanim/domain/status_page.py, docs/public.md).

- status_incident: an incident or a scheduled maintenance window written by staff, in both
  languages, with the components it touches and how badly;
- status_update: each update of an incident (investigating → identified → monitoring →
  resolved), in both languages;
- status_override: a staff member's level for one component, with the reason and until when
  (kanim's own reading of the node is set aside meanwhile).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text

from kanim.domain.status_page import IncidentState, Level
from kanim.store.tables import metadata
from kanim.store.types import StrEnumType, UTCDateTime

status_incident = Table(
    "status_incident", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(12), nullable=False),  # incident | maintenance
    Column("title_id", String(200), nullable=False),
    Column("title_en", String(200), nullable=False),
    Column("components", JSON, nullable=False),  # ["printing", "pickup"]
    Column("impact", StrEnumType(Level, 16), nullable=False),
    Column("state", StrEnumType(IncidentState, 16), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),  # an incident: when it began; maintenance: the window
    Column("ends_at", UTCDateTime),  # maintenance: the window's end; an incident: when resolved
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Index("ix_status_incident_starts_at", "starts_at"),
)

status_update = Table(
    "status_update", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(36), ForeignKey("status_incident.id"), nullable=False, index=True),
    Column("state", StrEnumType(IncidentState, 16), nullable=False),
    Column("body_id", Text, nullable=False),
    Column("body_en", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("by", String(64), nullable=False),
)

status_override = Table(
    "status_override", metadata,
    Column("component", String(24), primary_key=True),
    Column("level", StrEnumType(Level, 16), nullable=False),
    Column("reason_id", String(300), nullable=False),
    Column("reason_en", String(300), nullable=False),
    Column("until", UTCDateTime),
    Column("set_at", UTCDateTime, nullable=False),
    Column("set_by", String(64), nullable=False),
)
