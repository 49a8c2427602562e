"""Booking rules (kanim/domain/booking.py): quota, slots, closed days, 1 to 5 applicants."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from kanim.domain.booking import MAX_APPLICANTS, check_booking, parse_slot, slot_capacity
from kanim.domain.errors import Conflict, InvalidInput

SLOTS = [time(h, 0) for h in (8, 9, 10, 11, 13, 14, 15)]
MON = date(2026, 11, 30)
SAT, SUN = MON + timedelta(days=5), MON + timedelta(days=6)
CHRISTMAS = date(2026, 12, 25)  # a Friday


def book(**overrides: object) -> None:
    args: dict[str, object] = dict(day=MON, today=MON, applicants=1, booked_that_day=0, booked_in_slot=0,
                                   daily_quota=400, slot_cap=58, holidays=frozenset({CHRISTMAS}))
    args.update(overrides)
    check_booking(**args)  # type: ignore[arg-type]


# -- slots -----------------------------------------------------------------------------------


def test_each_slot_takes_an_equal_share_of_the_quota_rounded_up() -> None:
    assert slot_capacity(400, SLOTS) == 58  # 7 × 58 = 406 ≥ 400: the whole quota can be booked
    assert slot_capacity(70, SLOTS) == 10
    assert slot_capacity(1, SLOTS) == 1
    assert slot_capacity(400, SLOTS) * len(SLOTS) >= 400


def test_an_office_with_no_slots_gives_the_whole_quota_to_one() -> None:
    assert slot_capacity(40, []) == 40


def test_an_offered_slot_is_parsed() -> None:
    assert parse_slot("08:00", SLOTS) == time(8, 0)
    assert parse_slot("13:00:00", SLOTS) == time(13, 0)


@pytest.mark.parametrize("value", ["8 am", "", "25:00", "noon"])
def test_a_slot_that_is_not_a_time_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_slot(value, SLOTS)
    assert e.value.code == "slot-format"


def test_a_slot_the_office_does_not_offer_is_refused_with_the_offered_ones() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_slot("12:00", SLOTS)
    assert e.value.code == "slot-unknown"
    assert "08:00" in str(e.value) and "15:00" in str(e.value)


# -- applicants ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_booking_holds_one_to_five_applicants(n: int) -> None:
    book(applicants=n)


@pytest.mark.parametrize("n", [0, -1, 6, 50])
def test_a_booking_outside_one_to_five_applicants_is_refused(n: int) -> None:
    with pytest.raises(InvalidInput) as e:
        book(applicants=n)
    assert e.value.code == "booking-size"
    assert MAX_APPLICANTS == 5


def test_an_office_may_set_a_smaller_family_limit() -> None:
    with pytest.raises(InvalidInput) as e:
        book(applicants=3, max_applicants=2)
    assert e.value.code == "booking-size"


# -- days ------------------------------------------------------------------------------------


def test_booking_for_today_is_allowed() -> None:
    book(day=MON, today=MON)


def test_booking_a_day_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        book(day=MON - timedelta(days=3), today=MON)  # the previous Friday
    assert e.value.code == "booking-in-past"


@pytest.mark.parametrize("day", [SAT, SUN])
def test_the_office_is_closed_at_the_weekend(day: date) -> None:
    with pytest.raises(InvalidInput) as e:
        book(day=day)
    assert e.value.code == "office-closed"


def test_the_office_is_closed_on_a_holiday() -> None:
    with pytest.raises(InvalidInput) as e:
        book(day=CHRISTMAS)
    assert e.value.code == "office-closed"
    book(day=CHRISTMAS, holidays=frozenset())  # the same Friday is open without the holiday


# -- quota -----------------------------------------------------------------------------------


def test_the_last_places_of_the_day_can_be_booked() -> None:
    book(applicants=3, booked_that_day=397, booked_in_slot=0)


def test_a_full_day_is_refused_with_the_places_left() -> None:
    with pytest.raises(Conflict) as e:
        book(applicants=3, booked_that_day=398)
    assert e.value.code == "quota-full" and e.value.status == 409
    assert e.value.extra["left"] == 2


def test_an_overbooked_day_reports_no_negative_places() -> None:
    with pytest.raises(Conflict) as e:
        book(applicants=1, booked_that_day=410)
    assert e.value.extra["left"] == 0


def test_a_full_slot_is_refused_with_the_places_left_in_it() -> None:
    book(applicants=2, booked_in_slot=56)
    with pytest.raises(Conflict) as e:
        book(applicants=3, booked_in_slot=56)
    assert e.value.code == "slot-full" and e.value.extra["left"] == 2


def test_the_size_is_checked_before_the_day() -> None:
    with pytest.raises(InvalidInput) as e:
        book(applicants=6, day=SAT, booked_that_day=400)
    assert e.value.code == "booking-size"


def test_a_closed_day_is_reported_before_a_full_quota() -> None:
    with pytest.raises(InvalidInput) as e:
        book(day=SAT, booked_that_day=400)
    assert e.value.code == "office-closed"
