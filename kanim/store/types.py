"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes everywhere. SQLite has no time zones, so values are stored
    naive in UTC and given `tzinfo=UTC` back on load; a naive value on the way in is refused,
    because guessing its zone is how a billing code expires two hours early."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator):
    """A StrEnum stored as its value in a VARCHAR (no native enum: adding a stage must not need
    an ALTER TYPE on PostgreSQL)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 24) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        return None if value is None else self.enum_cls(value)


class HandoverJSON(TypeDecorator):
    """The handover record (who collected, which ID was checked) as one JSON value."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        data = asdict(value)
        data["recipient_kind"] = value.recipient_kind.value
        return data

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        from kanim.domain.application import Handover, RecipientKind

        return Handover(**{**value, "recipient_kind": RecipientKind(value["recipient_kind"])})
