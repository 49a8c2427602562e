from __future__ import annotations

from datetime import date, timedelta

import pytest

from kanim.domain.calendar import (
    add_working_days,
    is_working_day,
    ready_date,
    working_days_between,
)
from kanim.domain.errors import InvalidInput

# Idul Fitri 2024: public holidays 10-11 April, cuti bersama (collective leave) 8, 9, 12 and
# 15 April. With the weekend, the office is closed from Saturday 6 to Monday 15 April.
IDUL_FITRI_2024 = frozenset({date(2024, 4, d) for d in (8, 9, 10, 11, 12, 15)})

MON = date(2024, 6, 17)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))
NEXT_MON = MON + timedelta(days=7)


def test_it_counts_four_working_days_from_a_monday_interview_to_friday():
    assert ready_date(MON, frozenset()) == FRI


def test_it_does_not_count_the_interview_day_itself():
    assert ready_date(TUE, frozenset(), service_days=1) == WED


def test_it_skips_the_weekend_after_a_friday_interview():
    # Mon, Tue, Wed, Thu of the following week.
    assert ready_date(FRI, frozenset()) == NEXT_MON + timedelta(days=3)


def test_it_skips_the_weekend_after_a_wednesday_interview():
    assert ready_date(WED, frozenset()) == NEXT_MON + timedelta(days=1)


@pytest.mark.parametrize("day", [SAT, SUN])
def test_an_interview_on_a_weekend_counts_from_monday(day):
    assert ready_date(day, frozenset()) == NEXT_MON + timedelta(days=3)


def test_an_interview_on_a_holiday_counts_from_the_next_working_day():
    # Wednesday 1 May 2024 (Labour Day) is a holiday; Thu 2, Fri 3, Mon 6, Tue 7 count.
    assert ready_date(date(2024, 5, 1), {date(2024, 5, 1)}) == date(2024, 5, 7)


def test_it_skips_a_whole_week_of_idul_fitri_holidays():
    # Interview Friday 5 April 2024: closed 6-15 April, then Tue 16 .. Fri 19.
    assert ready_date(date(2024, 4, 5), IDUL_FITRI_2024) == date(2024, 4, 19)


def test_it_skips_a_holiday_in_the_middle_of_the_count():
    # Interview Monday 17 June 2024; Tuesday 18 June is cuti bersama for Idul Adha.
    assert ready_date(MON, {TUE}) == NEXT_MON


def test_holidays_on_a_weekend_change_nothing():
    assert ready_date(MON, {SAT, SUN}) == FRI


def test_it_accepts_holidays_as_a_plain_set_or_a_frozenset():
    assert add_working_days(MON, 1, {TUE}) == add_working_days(MON, 1, frozenset({TUE})) == WED


def test_it_defaults_to_no_holidays():
    assert add_working_days(MON, 5) == NEXT_MON


def test_it_uses_a_different_service_standard_when_given():
    assert ready_date(MON, frozenset(), service_days=7) == NEXT_MON + timedelta(days=2)


def test_adding_zero_working_days_returns_the_start_even_on_a_weekend():
    assert add_working_days(SAT, 0) == SAT


def test_it_refuses_a_negative_number_of_days():
    with pytest.raises(InvalidInput) as exc:
        add_working_days(MON, -1)
    assert exc.value.code == "calendar-negative-days"


def test_it_crosses_a_year_end():
    # Tuesday 31 Dec 2024; 1 January 2025 is a holiday: Thu 2, Fri 3, Mon 6, Tue 7.
    assert ready_date(date(2024, 12, 31), {date(2025, 1, 1)}) == date(2025, 1, 7)


def test_it_knows_working_days():
    assert is_working_day(MON)
    assert not is_working_day(SAT)
    assert not is_working_day(SUN)
    assert not is_working_day(TUE, {TUE})


def test_it_counts_working_days_between_two_dates():
    assert working_days_between(MON, FRI) == 4
    assert working_days_between(FRI, NEXT_MON) == 1
    assert working_days_between(FRI, FRI) == 0
    assert working_days_between(FRI, MON) == 0
    assert working_days_between(date(2024, 4, 5), date(2024, 4, 16), IDUL_FITRI_2024) == 1


def test_counting_between_is_the_inverse_of_adding():
    start = date(2024, 3, 28)
    for n in range(0, 30):
        end = add_working_days(start, n, IDUL_FITRI_2024)
        assert working_days_between(start, end, IDUL_FITRI_2024) == n
        assert n == 0 or is_working_day(end, IDUL_FITRI_2024)
