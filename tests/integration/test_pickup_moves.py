"""A family moves together when it asks for another slot or misses its own, even when it was
placed over adjacent slots; a passport already collected keeps its slot; a ready passport whose
applicant left no contact is written down as such, never given a slot in silence."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import select

from kanim.domain.application import Handover, RecipientKind
from kanim.domain.people import Sex
from kanim.notify.purposes import Purpose, State
from kanim.link.relay import sync_once
from kanim.office import booking, handover, pickup_slots, printing
from kanim.seed import advance
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.test_notify_flow import PHONE, Recorder, book, checked, messages, person, worker


@pytest.fixture
def office(tmp_path, backend, clock, central):  # noqa: ANN001, ANN201
    # One seat a slot: a family of two takes two adjacent slots.
    o, cleanup = make_office(tmp_path, backend, clock, central, pickup_seats_per_slot=1,
                             pickup_slot_times=[time(8), time(9), time(10)])
    yield o
    o.engine.dispose()
    cleanup()


def slots(office) -> dict[str, tuple[str, str, str]]:  # noqa: ANN001
    p = t.pickup_assignment.c
    with office.uow(readonly=True) as uow:
        return {r.application_id: (r.day.isoformat(), r.slot, r.state)
                for r in uow.session.execute(select(p.application_id, p.day, p.slot, p.state))}


def family(office, central) -> list:  # noqa: ANN001
    apps = book(office, applicants=[person(), person("Budi Santoso", "3171010508900002", Sex.M)])
    checked(office, apps, central)
    worker(office, Recorder()).drain()
    return apps


def test_a_family_over_two_slots_asking_for_another_moves_together_by_link(office, central) -> None:  # noqa: ANN001
    apps = family(office, central)
    before = slots(office)
    assert {s[1] for s in before.values()} == {"08:00", "09:00"}, "placed over two adjacent slots"
    with office.uow() as uow:
        moved = pickup_slots.answer(office, uow, application_id=apps[0].id, intent="change")
        uow.commit()
    after = slots(office)
    assert moved == 2, "the link of one member moves the whole family"
    days = {s[0] for s in after.values()}
    assert len(days) == 1 and days != {s[0] for s in before.values()}, after
    assert {s[1] for s in after.values()} == {"08:00", "09:00"}, "10:00 alone cannot hold two: the next day"


def test_a_family_asking_by_reply_is_not_split_over_days(office, central) -> None:  # noqa: ANN001
    family(office, central)
    with office.uow() as uow:
        assert pickup_slots.answer(office, uow, address=PHONE, intent="change") == 2
        uow.commit()
    assert len({s[0] for s in slots(office).values()}) == 1


def test_a_family_that_missed_its_slots_moves_together(office, central, clock) -> None:  # noqa: ANN001
    family(office, central)
    clock.advance(days=4)
    worker(office, Recorder()).drain()
    after = slots(office)
    assert len({s[0] for s in after.values()}) == 1, after
    no_show = messages(office, purpose=Purpose.NO_SHOW.value)
    assert len(no_show) == 2, "each member is told their new slot"


def test_a_passport_already_collected_keeps_its_slot_when_asked_to_move(office, central) -> None:  # noqa: ANN001
    apps = family(office, central)
    handover.hand_over(office, application_id=apps[0].id, actor="pickup",
                       handover=Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik="3171014508900001"))
    before = slots(office)
    with office.uow() as uow:
        moved = pickup_slots.answer(office, uow, application_id=apps[0].id, intent="change")
        uow.commit()
    after = slots(office)
    assert after[apps[0].id][:2] == before[apps[0].id][:2], "collected: it stays where it was"
    assert moved == 1 and after[apps[1].id] != before[apps[1].id], "the member still to collect moves"


def test_a_ready_passport_without_a_contact_is_written_down_not_told_in_silence(office, central) -> None:  # noqa: ANN001
    walk_in = booking.walk_in(office, applicant=person(), actor="frontdesk")
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")
    advance(office, walk_in.id, "printed", app_type=walk_in.app_type, after="checked_in")
    printing.quality_check(office, application_id=walk_in.id, passed=True, actor="printer")
    sync_once(office, central)
    apps = [walk_in]
    worker(office, Recorder()).drain()
    [ready] = messages(office, purpose=Purpose.READY.value)
    assert (ready.state, ready.reason, ready.channel) == (State.CANCELLED.value, "no-contact", "none")
    assert slots(office)[apps[0].id][2] == "offered", "the desk still expects them (the day view lists them)"


def test_a_slot_after_the_travel_date_is_flagged_for_a_call_on_the_desks_day(office, central, clock) -> None:  # noqa: ANN001
    from dataclasses import replace
    from datetime import timedelta

    from kanim.domain.application import Priority

    flying = replace(person(), priority=Priority.TRAVEL, travel_date=clock.now().date() + timedelta(days=1))
    apps = book(office, applicants=[flying])
    checked(office, apps, central)
    worker(office, Recorder()).drain()
    day, _, _ = slots(office)[apps[0].id]
    people = [p for s in pickup_slots.day_view(office, __import__("datetime").date.fromisoformat(day)) for p in s["people"]]
    assert [p["needs_call"] for p in people] == [True], "its slot is after the flight: staff must call"
