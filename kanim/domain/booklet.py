"""Booklet inventory: every blank passport booklet is accountable.

A booklet is received in a serial range, then either issued (personalised for one application)
or spoiled with a reason; the rest is in stock. The accountability report always balances:
received = issued + spoiled + in stock. The booklet serial is the passport number (the format
could not be confirmed, so the pattern is configurable: see `SerialPattern`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kanim.domain.errors import Conflict, InvalidInput

MAX_RANGE = 100_000  # one delivery; a typo in a serial should not create a million rows


class BookletStatus(StrEnum):
    IN_STOCK = "in_stock"
    ISSUED = "issued"
    SPOILED = "spoiled"


class SpoilReason(StrEnum):
    MISPRINT = "misprint"
    QC_FAILURE = "qc_failure"
    VOIDED_AFTER_FLAG = "voided_after_flag"  # printed during an outage, then flagged centrally
    DAMAGED_IN_STOCK = "damaged_in_stock"


@dataclass(frozen=True)
class SerialPattern:
    """A serial is a fixed prefix of letters and a zero-padded number, e.g. `X1234567`.

    `regex` must capture the letter prefix and the digits. The whole serial must fit the MRZ
    document number field (9 characters)."""

    regex: str = r"^([A-Z]{1,2})(\d{7})$"

    def split(self, serial: str) -> tuple[str, int, int]:
        s = serial.strip().upper()
        m = re.fullmatch(self.regex, s)
        if not m:
            raise InvalidInput(f"booklet serial {serial!r} does not match the pattern {self.regex}",
                               code="booklet-serial-format")
        prefix, digits = m.group(1), m.group(2)
        return prefix, int(digits), len(digits)

    def expand(self, first: str, last: str) -> list[str]:
        p1, n1, w1 = self.split(first)
        p2, n2, w2 = self.split(last)
        if p1 != p2 or w1 != w2:
            raise InvalidInput(f"{first} and {last} are not in one series", code="booklet-range")
        if n2 < n1:
            raise InvalidInput(f"range ends before it starts: {first}..{last}", code="booklet-range")
        if n2 - n1 + 1 > MAX_RANGE:
            raise InvalidInput(f"a range holds at most {MAX_RANGE} booklets", code="booklet-range")
        return [f"{p1}{n:0{w1}d}" for n in range(n1, n2 + 1)]

    def contains(self, first: str, last: str, serial: str) -> bool:
        """Whether `serial` lies in the range first..last (same series, inclusive)."""
        p, n, w = self.split(serial)
        p1, n1, w1 = self.split(first)
        _, n2, _ = self.split(last)
        return p == p1 and w == w1 and n1 <= n <= n2

    def overlaps(self, first_a: str, last_a: str, first_b: str, last_b: str) -> bool:
        """Whether two ranges share a serial."""
        pa, na1, wa = self.split(first_a)
        pb, nb1, wb = self.split(first_b)
        _, na2, _ = self.split(last_a)
        _, nb2, _ = self.split(last_b)
        return pa == pb and wa == wb and na1 <= nb2 and nb1 <= na2

    def normalize(self, serial: str) -> str:
        prefix, number, width = self.split(serial)
        return f"{prefix}{number:0{width}d}"


@dataclass(eq=False)
class Booklet:
    serial: str
    received_at: datetime
    batch_id: str
    status: BookletStatus = BookletStatus.IN_STOCK
    application_id: str | None = None
    issued_at: datetime | None = None
    spoiled_at: datetime | None = None
    spoil_reason: SpoilReason | None = None
    spoil_note: str | None = None

    def issue(self, *, application_id: str, at: datetime) -> None:
        if self.status is not BookletStatus.IN_STOCK:
            raise Conflict(f"booklet {self.serial} is {self.status.value}, not in stock",
                           code="booklet-not-in-stock")
        self.status = BookletStatus.ISSUED
        self.application_id = application_id
        self.issued_at = at

    def spoil(self, *, reason: SpoilReason, note: str = "", at: datetime) -> None:
        if self.status is BookletStatus.SPOILED:
            raise Conflict(f"booklet {self.serial} is already spoiled", code="booklet-spoiled")
        self.status = BookletStatus.SPOILED
        self.spoil_reason = reason
        self.spoil_note = note or None
        self.spoiled_at = at


@dataclass(frozen=True)
class AccountabilityReport:
    received: int
    issued: int
    spoiled: int
    in_stock: int
    spoiled_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.received == self.issued + self.spoiled + self.in_stock

    @classmethod
    def from_counts(cls, *, received: int, by_status: dict[str, int],
                    by_reason: dict[str, int]) -> AccountabilityReport:
        return cls(
            received=received,
            issued=by_status.get(BookletStatus.ISSUED.value, 0),
            spoiled=by_status.get(BookletStatus.SPOILED.value, 0),
            in_stock=by_status.get(BookletStatus.IN_STOCK.value, 0),
            spoiled_by_reason=dict(by_reason),
        )
