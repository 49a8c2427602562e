"""Staged pickup after an outage (kanim/domain/pickup.py): the calendar of pickup slots, the
order of the queue, families kept together, capacity, assigning again, another slot."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import pytest

from kanim.domain.application import Priority
from kanim.domain import pickup
from kanim.domain.errors import InvalidInput
from kanim.domain.pickup import (
    Capacity,
    Schedule,
    Slot,
    Waiting,
    assign,
    next_free,
    pickup_calendar,
    queue_key,
)

TODAY = date(2024, 6, 28)  # a Friday: the passport system was back, the backlog printed
MON = date(2024, 7, 1)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))
NEXT_MON = MON + timedelta(days=7)
TIMES = ["08:00", "09:00", "10:00"]
READY = datetime(2024, 6, 27, 9, 0)


def waiting(app: str, *, booking: str | None = None, priority: Priority = Priority.NONE,
            travel: date | None = None, ready_hours: float = 0) -> Waiting:
    """`ready_hours` earlier than READY: a larger number has waited longer."""
    return Waiting(app, booking, READY - timedelta(hours=ready_hours), priority, travel)


def calendar(days: int = 5, seats: int = 2, **kw) -> list[Capacity]:
    return pickup_calendar(MON, days, slot_times=TIMES, seats_per_slot=seats, **kw)


def slots_of(schedule: Schedule) -> dict[str, Slot]:
    return {a.application_id: a.slot for a in schedule.assignments}


def order_of(schedule: Schedule) -> list[str]:
    return [a.application_id for a in schedule.assignments]


# -- the calendar ---------------------------------------------------------------------------------

def test_the_calendar_opens_working_days_only_from_the_start_day():
    cal = pickup_calendar(THU, 3, slot_times=TIMES, seats_per_slot=15)
    assert sorted({c.slot.day for c in cal}) == [THU, FRI, NEXT_MON]
    assert [c.slot.time for c in cal if c.slot.day == THU] == TIMES
    assert {c.seats for c in cal} == {15}


def test_the_calendar_skips_holidays_and_cuti_bersama():
    cal = calendar(3, holidays=frozenset({TUE, WED}))
    assert sorted({c.slot.day for c in cal}) == [MON, THU, FRI]


def test_a_start_on_a_weekend_begins_on_monday():
    cal = pickup_calendar(SAT, 1, slot_times=TIMES, seats_per_slot=1)
    assert {c.slot.day for c in cal} == {NEXT_MON}


def test_an_extra_saturday_service_opens_the_day():
    cal = calendar(5, extra={SAT: (["08:00", "09:00"], 10)})
    assert [(c.slot, c.seats) for c in cal if c.slot.day == SAT] == [(Slot(SAT, "08:00"), 10),
                                                                     (Slot(SAT, "09:00"), 10)]
    assert cal == sorted(cal, key=lambda c: c.slot)


def test_extra_capacity_on_a_working_day_adds_to_its_own():
    cal = calendar(1, seats=2, extra={MON: (["09:00", "16:00"], 5)})
    assert {c.slot.time: c.seats for c in cal} == {"08:00": 2, "09:00": 7, "10:00": 2, "16:00": 5}


def test_extra_days_before_the_start_are_left_out():
    cal = pickup_calendar(TUE, 1, slot_times=TIMES, seats_per_slot=1, extra={date(2024, 6, 29): (TIMES, 9)})
    assert {c.slot.day for c in cal} == {TUE}


def test_taken_seats_are_subtracted_never_below_zero():
    cal = calendar(1, seats=2, taken={Slot(MON, "08:00"): 1, Slot(MON, "09:00"): 5, Slot(FRI, "08:00"): 1})
    assert {c.slot.time: c.seats for c in cal} == {"08:00": 1, "09:00": 0, "10:00": 2}


def test_slot_times_from_the_settings_are_accepted_as_times():
    cal = pickup_calendar(MON, 1, slot_times=[time(8, 0), "9:30"], seats_per_slot=1)
    assert [c.slot.time for c in cal] == ["08:00", "09:30"]


@pytest.mark.parametrize(("kw", "code"), [
    ({"slot_times": ["8 am"]}, "pickup-slot-format"),
    ({"slot_times": ["08:00", "8:00"]}, "pickup-slot-repeated"),
    ({"seats_per_slot": -1}, "pickup-negative-seats"),
    ({"taken": {Slot(MON, "08:00"): -1}}, "pickup-negative-seats"),
    ({"extra": {SAT: (["08:00"], -3)}}, "pickup-negative-seats"),
])
def test_the_calendar_refuses_a_settings_slip(kw, code):
    args = {"slot_times": TIMES, "seats_per_slot": 2, **kw}
    with pytest.raises(InvalidInput) as e:
        pickup_calendar(MON, 2, **args)
    assert e.value.code == code


def test_the_calendar_refuses_a_negative_day_count():
    with pytest.raises(InvalidInput) as e:
        calendar(-1)
    assert e.value.code == "pickup-negative-days"


def test_a_slot_time_must_be_zero_padded_so_slots_sort_in_time():
    with pytest.raises(InvalidInput) as e:
        Slot(MON, "8:00")
    assert e.value.code == "pickup-slot-format"
    assert Slot(MON, "09:00") < Slot(MON, "10:00") < Slot(TUE, "08:00")


# -- the queue ------------------------------------------------------------------------------------

def test_medical_goes_before_hajj_before_travel_before_the_rest():
    queue = [waiting("none", ready_hours=50), waiting("travel", priority=Priority.TRAVEL),
             waiting("hajj", priority=Priority.HAJJ_UMRAH), waiting("medical", priority=Priority.MEDICAL)]
    schedule = assign(queue, calendar(seats=1), today=TODAY)
    assert order_of(schedule) == ["medical", "hajj", "travel", "none"]
    assert slots_of(schedule)["medical"] == Slot(MON, "08:00")


def test_within_a_group_the_nearer_travel_date_goes_first():
    queue = [waiting("later", priority=Priority.HAJJ_UMRAH, travel=date(2024, 8, 10), ready_hours=10),
             waiting("sooner", priority=Priority.HAJJ_UMRAH, travel=date(2024, 7, 20)),
             waiting("no-date", priority=Priority.HAJJ_UMRAH, ready_hours=20)]
    assert order_of(assign(queue, calendar(), today=TODAY)) == ["sooner", "later", "no-date"]


def test_a_nearer_travel_date_orders_even_beyond_the_drain_horizon():
    # drain_priority gives both the same rank (over 60 days away): the date still decides.
    queue = [waiting("december", travel=date(2024, 12, 20)), waiting("october", travel=date(2024, 10, 1))]
    assert order_of(assign(queue, calendar(), today=TODAY)) == ["october", "december"]


def test_a_near_travel_date_lifts_an_applicant_with_no_stated_priority():
    queue = [waiting("stated", priority=Priority.TRAVEL, travel=date(2024, 8, 20)),
             waiting("flies-soon", travel=date(2024, 7, 5))]
    assert order_of(assign(queue, calendar(), today=TODAY)) == ["flies-soon", "stated"]


def test_then_the_passport_ready_the_longest_then_the_id():
    queue = [waiting("b", ready_hours=5), waiting("c", ready_hours=30), waiting("a", ready_hours=5)]
    assert order_of(assign(queue, calendar(), today=TODAY)) == ["c", "a", "b"]


def test_the_same_queue_in_any_order_gives_the_same_schedule():
    queue = random_queue(random.Random(7), 120)
    first = assign(queue, calendar(10), today=TODAY)
    shuffled = list(queue)
    random.Random(8).shuffle(shuffled)
    assert assign(shuffled, calendar(10), today=TODAY) == first


def test_a_travel_date_already_passed_is_still_first_in_line_and_needs_a_call():
    queue = [waiting("travel-soon", priority=Priority.TRAVEL, travel=date(2024, 7, 10)),
             waiting("missed", priority=Priority.TRAVEL, travel=date(2024, 6, 26)),
             waiting("medical", priority=Priority.MEDICAL)]
    schedule = assign(queue, calendar(seats=1), today=TODAY)
    assert order_of(schedule) == ["medical", "missed", "travel-soon"]
    assert [a.application_id for a in schedule.needs_call()] == ["missed"]


def test_a_slot_on_or_after_the_travel_date_needs_a_call():
    queue = [waiting("flies-monday", travel=MON), waiting("flies-tuesday", travel=TUE)]
    schedule = assign(queue, calendar(1, seats=1), today=TODAY)
    assert {a.application_id: a.needs_call for a in schedule.assignments} == {
        "flies-monday": True, "flies-tuesday": False}
    assert queue_key(queue[0], TODAY) < queue_key(queue[1], TODAY)


# -- families -------------------------------------------------------------------------------------

def test_a_family_is_placed_in_one_slot_when_one_holds_it():
    queue = [waiting("single", ready_hours=9), *family("f", 3)]
    schedule = assign(queue, calendar(seats=3), today=TODAY)
    assert {slots_of(schedule)[f"f{i}"] for i in range(3)} == {Slot(MON, "09:00")}
    assert slots_of(schedule)["single"] == Slot(MON, "08:00")


def test_a_family_larger_than_a_slot_takes_adjacent_slots_of_one_day():
    schedule = assign(family("f", 3), calendar(seats=2), today=TODAY)
    assert [slots_of(schedule)[f"f{i}"] for i in range(3)] == [Slot(MON, "08:00"), Slot(MON, "08:00"),
                                                                Slot(MON, "09:00")]


def test_one_slot_is_preferred_to_an_earlier_run_of_adjacent_slots():
    cal = calendar(1, seats=3, taken={Slot(MON, "08:00"): 2, Slot(MON, "09:00"): 1})
    schedule = assign(family("f", 3), cal, today=TODAY)
    assert set(slots_of(schedule).values()) == {Slot(MON, "10:00")}


def test_a_run_of_slots_is_never_broken_by_a_full_slot():
    # Monday: 08:00 has 1 free, 09:00 none, 10:00 has 1: two seats, but not adjacent ones.
    cal = calendar(2, seats=2, taken={Slot(MON, "08:00"): 1, Slot(MON, "09:00"): 2, Slot(MON, "10:00"): 1})
    schedule = assign(family("f", 2), cal, today=TODAY)
    assert set(slots_of(schedule).values()) == {Slot(TUE, "08:00")}


def test_a_family_that_does_not_fit_today_goes_whole_to_the_next_day_and_others_fill_the_gap():
    cal = calendar(2, seats=2)  # 6 seats a day
    queue = [*(waiting(f"early{i}", ready_hours=50 - i) for i in range(4)), *family("f", 3),
             *(waiting(f"late{i}", ready_hours=-i - 1) for i in range(3))]
    schedule = assign(queue, cal, today=TODAY)
    days = {a.application_id: a.slot.day for a in schedule.assignments}
    assert {days[f"f{i}"] for i in range(3)} == {TUE}
    assert [days[f"late{i}"] for i in range(3)] == [MON, MON, TUE]


def test_a_family_keeps_the_place_of_its_most_urgent_member():
    queue = [waiting("traveller", priority=Priority.TRAVEL, ready_hours=90),
             waiting("parent", booking="b"), waiting("child", booking="b", priority=Priority.MEDICAL)]
    schedule = assign(queue, calendar(seats=1), today=TODAY)
    assert order_of(schedule) == ["child", "parent", "traveller"]
    assert slots_of(schedule)["child"] == Slot(MON, "08:00")


def test_a_family_too_large_for_any_day_is_returned_unplaced_not_split():
    schedule = assign([*family("f", 7), waiting("single")], calendar(3, seats=2), today=TODAY)
    assert [w.application_id for w in schedule.unplaced] == [f"f{i}" for i in range(7)]
    assert order_of(schedule) == ["single"]


def test_no_family_is_ever_split_across_days_and_its_slots_are_adjacent():
    queue = random_queue(random.Random(1), 600)
    cal = calendar(40, seats=3)
    schedule = assign(queue, cal, today=TODAY)
    slots_by_day = {day: [c.slot for c in cal if c.slot.day == day] for day in {c.slot.day for c in cal}}
    by_booking: dict[str, set[Slot]] = defaultdict(set)
    for a in schedule.assignments:
        if a.booking_id:
            by_booking[a.booking_id].add(a.slot)
    assert len(by_booking) > 50
    for slots in by_booking.values():
        (day,) = {s.day for s in slots}
        positions = sorted(slots_by_day[day].index(s) for s in slots)
        assert positions == list(range(positions[0], positions[0] + len(positions)))


def test_resuming_each_family_size_where_its_search_stopped_changes_no_slot(monkeypatch):
    # The search for a family of k resumes at the first day that could still hold k (seats only
    # go down); searching from the calendar's first day every time must give the same schedule.
    queue = random_queue(random.Random(11), 800)
    cal = calendar(60, seats=2, extra={SAT: (TIMES[:1], 1)})
    fast = assign(queue, cal, today=TODAY)

    def from_the_first_day(board, size):
        return next((s for day in range(len(board.free)) if (s := board._take(day, size)) is not None), None)

    monkeypatch.setattr(pickup._Board, "place", from_the_first_day)
    assert assign(queue, cal, today=TODAY) == fast


# -- capacity -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_capacity_is_never_exceeded_and_everyone_is_placed_or_returned(seed):
    rng = random.Random(seed)
    queue = random_queue(rng, 400)
    cal = calendar(rng.randint(5, 30), seats=rng.randint(1, 6), extra={SAT: (TIMES, rng.randint(0, 9))},
                   taken={Slot(MON, "08:00"): 1})
    schedule = assign(queue, cal, today=TODAY)
    seats = {c.slot: c.seats for c in cal}
    assert all(n <= seats[slot] for slot, n in schedule.seats_taken().items())
    placed = [a.application_id for a in schedule.assignments] + [w.application_id for w in schedule.unplaced]
    assert sorted(placed) == sorted(w.application_id for w in queue)


def test_the_queue_fills_the_earliest_seats_first():
    schedule = assign([waiting(f"a{i}", ready_hours=-i) for i in range(7)], calendar(seats=2), today=TODAY)
    assert [a.slot for a in schedule.assignments] == [
        Slot(MON, "08:00"), Slot(MON, "08:00"), Slot(MON, "09:00"), Slot(MON, "09:00"),
        Slot(MON, "10:00"), Slot(MON, "10:00"), Slot(TUE, "08:00")]


def test_those_left_when_capacity_runs_out_come_back_in_queue_order():
    queue = [waiting(f"a{i}", ready_hours=-i) for i in range(8)]
    schedule = assign(queue, calendar(1, seats=2), today=TODAY)
    assert len(schedule.assignments) == 6
    assert [w.application_id for w in schedule.unplaced] == ["a6", "a7"]


def test_an_extra_saturday_is_filled_by_the_waiting_queue():
    queue = [waiting(f"a{i}", ready_hours=-i) for i in range(9)]
    first = assign(queue, calendar(1, seats=2), today=TODAY)
    assert len(first.unplaced) == 3
    opened = calendar(1, seats=2, extra={SAT: (["08:00"], 2)}, taken=first.seats_taken())
    second = assign(first.unplaced, opened, today=TODAY)
    assert slots_of(second) == {"a6": Slot(SAT, "08:00"), "a7": Slot(SAT, "08:00")}
    assert [w.application_id for w in second.unplaced] == ["a8"]


def test_an_extra_saturday_is_filled_before_the_next_week():
    queue = [waiting(f"a{i:02d}", ready_hours=-i) for i in range(33)]
    cal = calendar(10, seats=2, extra={SAT: (["09:00"], 2)})  # 6 seats a working day
    days = [a.slot.day for a in assign(queue, cal, today=TODAY).assignments]
    assert days[24:] == [FRI] * 6 + [SAT, SAT, NEXT_MON]


def test_assigning_again_moves_nobody_already_placed():
    queue = random_queue(random.Random(3), 300)
    first = assign(queue, calendar(10, seats=3), today=TODAY)
    taken = first.seats_taken()
    again = assign(first.unplaced, calendar(10, seats=3, taken=taken), today=TODAY)
    assert first.unplaced and again.assignments == ()
    assert again.unplaced == first.unplaced
    later = assign(first.unplaced, calendar(40, seats=3, taken=taken), today=TODAY)
    assert later.assignments and not later.unplaced
    assert all(n <= 3 for n in (Counter(taken) + Counter(later.seats_taken())).values())


@pytest.mark.parametrize(("capacity", "queue", "code"), [
    ([Capacity(Slot(MON, "08:00"), -1)], [], "pickup-negative-seats"),
    ([Capacity(Slot(MON, "08:00"), 1), Capacity(Slot(MON, "08:00"), 1)], [], "pickup-slot-repeated"),
    ([Capacity(Slot(date(2024, 6, 27), "08:00"), 1)], [], "pickup-slot-in-past"),
    ([], [waiting("a"), waiting("a", booking="b")], "pickup-duplicate-application"),
])
def test_assign_refuses_input_that_would_break_a_rule(capacity, queue, code):
    with pytest.raises(InvalidInput) as e:
        assign(queue, capacity, today=TODAY)
    assert e.value.code == code


def test_nothing_to_place_and_no_calendar_is_an_empty_schedule():
    assert assign([], [], today=TODAY) == Schedule((), ())
    assert assign([waiting("a")], [], today=TODAY).unplaced == (waiting("a"),)


# -- another slot ---------------------------------------------------------------------------------

def test_a_no_show_is_moved_to_the_next_free_slot_strictly_later():
    cal = calendar(2, seats=2, taken={Slot(MON, "09:00"): 2})
    assert next_free(cal, Slot(MON, "08:00")) == Slot(MON, "10:00")
    assert next_free(cal, Slot(MON, "23:59")) == Slot(TUE, "08:00")


def test_another_slot_for_a_family_has_room_for_all_of_it():
    cal = calendar(2, seats=3, taken={Slot(MON, "10:00"): 1, Slot(TUE, "08:00"): 2})
    assert next_free(cal, Slot(MON, "09:00"), seats_needed=3) == Slot(TUE, "09:00")


def test_no_later_slot_with_room_is_none():
    cal = calendar(1, seats=1, taken={Slot(MON, "10:00"): 1})
    assert next_free(cal, Slot(MON, "09:00")) is None
    assert next_free(cal, Slot(MON, "08:00"), seats_needed=2) is None


def test_next_free_refuses_to_look_for_no_seats():
    with pytest.raises(InvalidInput) as e:
        next_free(calendar(1), Slot(MON, "08:00"), seats_needed=0)
    assert e.value.code == "pickup-seats-needed"


# -- helpers --------------------------------------------------------------------------------------

def family(booking: str, size: int) -> list[Waiting]:
    return [waiting(f"{booking}{i}", booking=booking, ready_hours=-i) for i in range(size)]


def random_queue(rng: random.Random, n: int) -> list[Waiting]:
    """Families of 1 to 5, a few medical and hajj, some travel dates, ready over a week."""
    queue: list[Waiting] = []
    while len(queue) < n:
        size = rng.choice([1, 1, 1, 2, 2, 3, 4, 5])
        booking = f"b{len(queue)}" if size > 1 or rng.random() < 0.5 else None
        travel = TODAY + timedelta(days=rng.randint(-3, 90)) if rng.random() < 0.3 else None
        priority = rng.choices(list(Priority), weights=[80, 10, 5, 5])[0]
        for _ in range(size):
            queue.append(Waiting(f"a{len(queue):05d}", booking, READY - timedelta(minutes=rng.randint(0, 10_000)),
                                 priority, travel))
    return queue
