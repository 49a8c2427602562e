"""Indonesia's time zones by the office's zone name (kanim/domain/zones.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kanim.domain.zones import local_time_text, zone_abbreviation

AT = datetime(2026, 12, 1, 8, 3, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "text"), [
    ("Asia/Jakarta", "01-12-2026 15:03 WIB"),
    ("Asia/Pontianak", "01-12-2026 15:03 WIB"),
    ("Asia/Makassar", "01-12-2026 16:03 WITA"),
    ("Asia/Ujung_Pandang", "01-12-2026 16:03 WITA"),
    ("Asia/Jayapura", "01-12-2026 17:03 WIT"),
])
def test_an_utc_time_is_printed_in_the_offices_zone_with_its_indonesian_name(zone: str, text: str) -> None:
    assert local_time_text(AT, zone) == text


def test_a_zone_outside_indonesia_is_named_by_its_offset_not_as_an_indonesian_zone() -> None:
    # UTC+8 like Makassar, but not WITA.
    assert local_time_text(AT, "Asia/Singapore") == "01-12-2026 16:03 UTC+08:00"
    assert local_time_text(AT, "Asia/Kolkata") == "01-12-2026 13:33 UTC+05:30"
    assert local_time_text(AT, "America/Sao_Paulo") == "01-12-2026 05:03 UTC-03:00"
    assert local_time_text(AT, "UTC") == "01-12-2026 08:03 UTC"


def test_the_local_day_can_differ_from_the_utc_day() -> None:
    assert local_time_text(datetime(2026, 11, 30, 20, 30, tzinfo=UTC), "Asia/Jayapura") == "01-12-2026 05:30 WIT"


def test_a_naive_time_is_printed_as_it_is() -> None:
    assert local_time_text(datetime(2026, 12, 1, 8, 3), "Asia/Jakarta") == "01-12-2026 08:03"


def test_the_abbreviation_rule_alone() -> None:
    assert zone_abbreviation("Asia/Jakarta", None) == "WIB"
    assert zone_abbreviation("Europe/London", timedelta(0)) == "UTC"
    assert zone_abbreviation("Europe/London", None) == ""
