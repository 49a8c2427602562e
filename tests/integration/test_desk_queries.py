"""What the capture, interview and supervisor desks read, on SQLite and on PostgreSQL: the
queues in their order, a hold with its decisions and when it was held, dead letters with their
application's number."""

from __future__ import annotations

from sqlalchemy import select, update

from kanim.bootstrap import Office
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.office.queries import biometrics, interview, supervisor
from kanim.store import tables as t
from tests.console_desks import at_stage, central_decision


def test_the_capture_queue_puts_the_paid_first_and_counts_everyone_waiting(office: Office) -> None:
    unpaid = at_stage(office, "intake_done", 0)
    first, second = at_stage(office, "paid", 1), at_stage(office, "paid", 2)
    queue = biometrics.capture_queue(office, limit=2)
    assert [a.id for a in queue.applications] == [first.id, second.id] and queue.total == 3
    assert [a.id for a in biometrics.capture_queue(office).applications][-1] == unpaid.id


def test_a_capture_state_knows_each_finger_and_whether_capture_is_open(office: Office) -> None:
    app = at_stage(office, "captured")  # the seed records finger 10 as injured
    state = biometrics.capture_state(office, app.number)
    assert not state.open and state.photo is not None and state.gaps == []
    assert [f.state for f in state.fingers] == ["captured"] * 9 + ["excepted"]
    assert state.fingers[9].exception == "injured"


def test_the_interview_and_approval_queues_hold_their_stage_only(office: Office) -> None:
    captured, interviewed = at_stage(office, "captured", 0), at_stage(office, "interviewed", 1)
    assert [a.id for a in interview.interview_queue(office).applications] == [captured.id]
    queue = supervisor.approval_queue(office)
    assert [a.id for a in queue.applications] == [interviewed.id] and queue.total == 1


def test_a_hold_reads_with_the_centrals_decisions_newest_first(office: Office) -> None:
    app = at_stage(office, "interviewed")
    central_decision(office, app.id, ClearanceKind.WATCHLIST_CLEAR, ClearanceState.FLAGGED, "order 2026/117")
    (held,) = supervisor.holds(office).held
    assert held.application.id == app.id and held.flagged == ["watchlist_clear"]
    assert held.central[0].reason == "order 2026/117" and held.central[0].new == "flagged"
    assert held.held_at is not None
    assert any(d.source == "office" for d in supervisor.review(office, app.id).decisions)


def test_dead_letters_read_with_their_applications_number_and_a_page_at_a_time(office: Office) -> None:
    apps = [at_stage(office, "checked_in", i) for i in range(3)]
    with office.uow() as uow:
        uow.session.execute(update(t.outbox).where(t.outbox.c.subject.in_([a.id for a in apps]))
                            .values(status="dead", last_error="refused"))
        uow.commit()
        dead = uow.session.execute(select(t.outbox.c.id).where(t.outbox.c.status == "dead")).all()
    page = supervisor.dead_letters(office, limit=2)
    assert len(page.letters) == 2 and page.more and len(dead) > 2
    assert page.letters[0].application_number == apps[0].number and page.letters[0].error == "refused"
