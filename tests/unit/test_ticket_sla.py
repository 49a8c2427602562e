"""The complaint desk's SLA clocks on the working calendar: weekends, holidays and the days a
ticket waits for the applicant do not count; the day the ticket was opened does not either."""

from __future__ import annotations

from datetime import date

import pytest

from kanim.domain.tickets import (Pause, Standard, TicketMoveRefused, TicketState, after_inbound, check_move, clocks,
                                  days_used, due_date, masked_numbers, numbers_in)

THU, FRI, MON, TUE, WED = date(2026, 12, 3), date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)
CHRISTMAS = {date(2026, 12, 25)}


def test_three_working_days_from_a_thursday_skip_the_weekend() -> None:
    assert due_date(THU, 3) == TUE  # Fri, Mon, Tue
    assert due_date(FRI, 5) == date(2026, 12, 11)


def test_a_holiday_does_not_count() -> None:
    # Opened Wed 23 Dec: Thu 24, (Fri 25 Christmas), Mon 28, Tue 29.
    assert due_date(date(2026, 12, 23), 3, holidays=CHRISTMAS) == date(2026, 12, 29)
    assert due_date(date(2026, 12, 23), 3) == date(2026, 12, 28)


def test_days_waiting_for_the_applicant_do_not_count() -> None:
    # Opened Thu; waited for the applicant Fri and Mon (answered Tue): Tue, Wed, Thu count.
    paused = [Pause(FRI, TUE)]
    assert due_date(THU, 3, paused) == date(2026, 12, 10)
    assert days_used(THU, WED, paused) == 2


def test_an_open_pause_stops_the_clock_until_the_applicant_answers() -> None:
    assert due_date(THU, 3, [Pause(MON)]) is None  # Fri counted, then waiting
    assert due_date(THU, 1, [Pause(MON)]) == FRI  # ran out before the pause


def test_a_ticket_unanswered_after_its_day_is_overdue_and_one_answered_late_is_late_but_not_overdue() -> None:
    std = Standard(3, 5)
    fresh = clocks(THU, responded_on=None, resolved_on=None, today=TUE, standard=std)
    assert fresh.first_response.due == TUE and not fresh.overdue
    late = clocks(THU, responded_on=None, resolved_on=None, today=WED, standard=std)
    assert late.first_response.overdue and late.overdue
    answered = clocks(THU, responded_on=WED, resolved_on=None, today=WED, standard=std)
    assert answered.first_response.late and not answered.first_response.overdue and not answered.overdue
    waiting = clocks(THU, responded_on=FRI, resolved_on=None, today=date(2026, 12, 30), pauses=[Pause(MON)],
                     standard=std)
    assert waiting.resolution.due is None and not waiting.overdue, "a paused clock is never overdue"


def test_states_move_only_forward_and_an_answer_reopens() -> None:
    check_move(TicketState.NEW, TicketState.OPEN)
    with pytest.raises(TicketMoveRefused):
        check_move(TicketState.CLOSED, TicketState.OPEN)
    assert after_inbound(TicketState.WAITING) is TicketState.OPEN
    assert after_inbound(TicketState.RESOLVED) is TicketState.OPEN
    assert after_inbound(TicketState.NEW) is TicketState.NEW


def test_application_numbers_are_found_in_what_the_applicant_wrote() -> None:
    assert numbers_in("paspor saya mdo-20261201-0042 belum jadi, MDO-20261201-0042?") == ["MDO-20261201-0042"]
    assert numbers_in("no number here 12345") == []


def test_phone_numbers_and_niks_in_a_subject_are_masked_but_application_numbers_are_not() -> None:
    assert masked_numbers("NIK 3171014508900001, hp 081234567890, MND-20261201-0042") == \
        "NIK 3171•••••••••001, hp 0812•••••890, MND-20261201-0042"
