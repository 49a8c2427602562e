"""Dates the office judges against its own day: birth dates and travel dates."""

from __future__ import annotations

from datetime import date

import pytest

from kanim.domain.errors import InvalidInput
from kanim.domain.people import OLDEST_AGE, check_birth_date, check_travel_date

TODAY = date(2026, 12, 1)


def test_a_birth_date_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        check_birth_date(date(2026, 12, 2), today=TODAY)
    assert e.value.code == "birth-date-future"
    check_birth_date(TODAY, today=TODAY)  # born today: a newborn's first passport


def test_a_birth_date_more_than_130_years_ago_is_refused() -> None:
    check_birth_date(date(1895, 12, 2), today=TODAY)  # 130, turning 131 tomorrow
    with pytest.raises(InvalidInput) as e:
        check_birth_date(date(1895, 12, 1), today=TODAY)  # 131 today
    assert e.value.code == "birth-date-too-old" and str(OLDEST_AGE) in str(e.value)


def test_a_travel_date_in_the_past_is_refused() -> None:
    check_travel_date(None, today=TODAY)
    check_travel_date(TODAY, today=TODAY)
    with pytest.raises(InvalidInput) as e:
        check_travel_date(date(2026, 11, 30), today=TODAY)
    assert e.value.code == "travel-date-past"
