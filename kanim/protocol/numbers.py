"""Application numbers across the link, for both roles: an office's numbers are
`<office>-<YYYYMMDD>-<NNNN>` (kanim/office/booking.py), never reused. After a restore an office
asks the central for the highest it holds per day and continues after them; the central refuses
a number it already holds for another application of the same office. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

NUMBER = re.compile(r"^(?P<office>[A-Z0-9]{2,8})-(?P<day>[0-9]{8})-(?P<n>[0-9]{1,9})$")


def highest_by_day(office_code: str, numbers: Iterable[str]) -> dict[date, int]:
    """The highest serial per day among `numbers` of `office_code` (others ignored)."""
    highest: dict[date, int] = {}
    for number in numbers:
        m = NUMBER.match(number or "")
        if not m or m["office"] != office_code:
            continue
        try:
            day = date(int(m["day"][:4]), int(m["day"][4:6]), int(m["day"][6:]))
        except ValueError:
            continue
        highest[day] = max(highest.get(day, 0), int(m["n"]))
    return highest
