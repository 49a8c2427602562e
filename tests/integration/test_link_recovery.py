"""The link after a mistake at the office's end: a refusal that is not the central's parks
nothing, a dead letter taken after a retry lifts the flag its refusal raised, an incident a
previous relay left open is closed by the first round that works, and a signed event the office
cannot apply holds the feed and says so instead of failing every round."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import httpx
import pytest

from kanim.domain.clearances import ClearanceState
from kanim.link import inbox
from kanim.link.http import HttpCentral
from kanim.link.relay import Relay
from kanim.protocol.signing import load_or_create_key, public_b64, sign_document
from kanim.link.views import dead_letters, incidents, retry_dead_letters, status
from kanim.office.ports import BatchRefused, CentralUnavailable
from kanim.protocol.wire import CentralEvent, InboxPage
from kanim.store import tables as t
from tests.integration.test_workflow import book_one


def central_answering(status: int, body: bytes, content_type: str) -> HttpCentral:
    key = load_or_create_key(__import__("pathlib").Path("/tmp") / f"k-{uuid.uuid4().hex}.pem")
    transport = httpx.MockTransport(lambda r: httpx.Response(status, content=body,
                                                             headers={"content-type": content_type}))
    return HttpCentral("http://central.test", office_code="MND", key=key, transport=transport)


@pytest.mark.parametrize("status, body, content_type", [
    (400, b"<html>The plain HTTP request was sent to HTTPS port</html>", "text/html"),
    (413, b"<html>413 Request Entity Too Large</html>", "text/html"),
    (422, b'{"detail": "not kanim"}', "application/json"),
])
def test_a_refusal_that_is_not_the_centrals_makes_the_link_unavailable_and_parks_nothing(
        sqlite_office, status, body, content_type) -> None:  # noqa: ANN001
    link = central_answering(status, body, content_type)
    with pytest.raises(CentralUnavailable) as e:
        link.push([])
    assert not isinstance(e.value, BatchRefused)
    book_one(sqlite_office)
    r = Relay(sqlite_office, link).run_once()
    assert r.error and f"central answered {status}" in r.error
    assert dead_letters(sqlite_office) == []
    with sqlite_office.uow() as uow:
        assert [a.stage.value for a in uow.applications.list()] == ["booked"]


def test_the_centrals_own_batch_refusal_still_splits_the_batch() -> None:
    link = central_answering(422, b'{"code": "batch-invalid", "detail": "operation 0 has no usable id"}',
                             "application/problem+json")
    with pytest.raises(BatchRefused):
        link.push([])


def test_a_dead_letter_the_central_takes_after_a_retry_lifts_the_flag_its_refusal_raised(sqlite_office) -> None:  # noqa: ANN001
    from kanim.protocol.wire import OperationResult

    app = book_one(sqlite_office)

    class RefusesOnce:
        def __init__(self) -> None:
            self.refuse = True

        def push(self, ops, urgent=False):  # noqa: ANN001, ANN202
            return [OperationResult(o.id, ok=not self.refuse, permanent=self.refuse,
                                    error="refused for the test" if self.refuse else None) for o in ops]

        def pull(self, *, after: int, limit: int = 1000) -> InboxPage:
            return InboxPage([], after)

        def watchlist(self):  # noqa: ANN202
            return None

    central = RefusesOnce()
    relay = Relay(sqlite_office, central)
    relay.run_once()
    with sqlite_office.uow() as uow:
        held = uow.applications.get(app.id)
        assert held.stage.value == "on_hold" and held.clearances.recorded_centrally is ClearanceState.FLAGGED
    parked = len(dead_letters(sqlite_office))
    assert parked > 0 and retry_dead_letters(sqlite_office, actor="admin") == parked
    central.refuse = False
    for _ in range(5):
        relay.run_once()
    with sqlite_office.uow() as uow:
        again = uow.applications.get(app.id)
    assert again.clearances.recorded_centrally is ClearanceState.CONFIRMED, again.clearances
    assert dead_letters(sqlite_office) == []


def test_an_incident_a_previous_relay_left_open_is_closed_by_the_first_round_that_works(sqlite_office, central) -> None:  # noqa: ANN001
    from kanim.link.breaker import LinkState
    from kanim.link.relay import record_state_change

    record_state_change(sqlite_office, LinkState.DOWN, "ConnectError: the previous process saw it down")
    assert status(sqlite_office)["state"] == "down"
    Relay(sqlite_office, central).run_once()  # a new process: its breaker starts up
    assert status(sqlite_office)["state"] == "up"
    assert all(i["ended_at"] for i in incidents(sqlite_office))


def test_a_signed_event_the_office_cannot_apply_holds_the_feed_and_says_why(sqlite_office, tmp_path) -> None:  # noqa: ANN001
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kanim.protocol.feed import FEED_SIGNATURE, feed_document

    key = Ed25519PrivateKey.generate()
    sqlite_office.settings.central_public_key = public_b64(key)
    app = book_one(sqlite_office)
    payload = {"kind": "chip_signed", "state": "confirmed", "reason": "a newer central", "decided_at": "2026-12-01T01:00:00+00:00"}
    event = CentralEvent("e-new-kind", "clearance", app.id, payload, seq=1)
    signed = CentralEvent(event.id, event.kind, event.subject,
                          {**payload, FEED_SIGNATURE: sign_document(key, feed_document(event.id, event.kind, event.subject,
                                                                                       payload))}, seq=1)
    outbox_before = len(_outbox(sqlite_office))
    assert inbox.apply_page(sqlite_office, InboxPage([signed], 1, last_seq=1)) == {"blocked": 1}
    st = status(sqlite_office)
    assert st["feed_blocked"]["event"] == "e-new-kind" and "cannot apply" in st["feed_blocked"]["why"], st
    with sqlite_office.uow() as uow:
        assert inbox.get_state(uow, inbox.CURSOR) == "0"
    assert len(_outbox(sqlite_office)) == outbox_before  # nothing half-applied reached the outbox


def _outbox(office) -> list:  # noqa: ANN001
    with office.uow() as uow:
        return uow.session.execute(t.outbox.select()).all()


def test_a_batch_with_urgent_work_says_so_and_an_ordinary_one_does_not(tmp_path, clock) -> None:  # noqa: ANN001
    """The relay marks a push that carries urgent work (`X-Kanim-Urgent`), for the central's
    admission when it is full (kanim/central/auth.py): most urgent first, so the urgent batch
    goes first and says so."""
    from datetime import date

    from kanim.domain.application import Priority
    from kanim.domain.passport import ApplicationType, PassportKind
    from kanim.domain.people import Sex
    from kanim.link.simulated import SimulatedCentral
    from kanim.office import booking

    class Noting(SimulatedCentral):
        def push(self, operations, *, urgent=False):  # noqa: ANN001, ANN201
            marks.append((urgent, {o.subject for o in operations}))
            return super().push(operations, urgent=urgent)

    marks: list = []
    with _office_on(tmp_path, clock, Noting(), link_batch=1) as office:
        def book(name: str, nik: str, priority: Priority) -> str:
            a = booking.Applicant(full_name=name, nik=nik, birth_date=date(1990, 8, 5), sex=Sex.F,
                                  app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY,
                                  priority=priority)
            return booking.book(office, account_ref=name, day=date(2026, 12, 1), slot="09:00", applicants=[a],
                                actor="desk")[0].id

        ordinary = book("Siti Rahmawati", "3171014508900001", Priority.NONE)
        medical = book("Dewi Lestari", "3171014508900003", Priority.MEDICAL)
        relay = Relay(office, office.central)
        while relay.push_round().more:
            pass
        assert marks[0] == (True, {medical}), marks
        assert (False, {ordinary}) in marks and all(not u for u, s in marks if s == {ordinary})


def test_the_http_link_sends_the_urgent_mark_only_on_an_urgent_push() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"results": []})

    key = load_or_create_key(__import__("pathlib").Path("/tmp") / f"k-{uuid.uuid4().hex}.pem")
    link = HttpCentral("http://central.test", office_code="MND", key=key, transport=httpx.MockTransport(answer))
    link.push([], urgent=True)
    link.push([])
    assert [h.get("x-kanim-urgent") for h in seen] == ["1", None]


@contextmanager
def _office_on(tmp_path, clock, central, **settings):  # noqa: ANN001, ANN202
    from tests.conftest import make_office

    office, cleanup = make_office(tmp_path, "sqlite", clock, central, **settings)
    try:
        yield office
    finally:
        office.engine.dispose()
        cleanup()


def _two_bookings(office, names=(("Siti Rahmawati", "3171014508900001"), ("Dewi Lestari", "3171014508900003"))):  # noqa: ANN001, ANN202
    from datetime import date

    from kanim.domain.passport import ApplicationType, PassportKind
    from kanim.domain.people import Sex
    from kanim.office import booking

    return [booking.book(office, account_ref=name, day=date(2026, 12, 1), slot="09:00", actor="desk", applicants=[
        booking.Applicant(full_name=name, nik=nik, birth_date=date(1990, 8, 5), sex=Sex.F,
                          app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)])[0].id
            for name, nik in names]


def test_the_next_batch_is_read_while_the_central_applies_the_last(tmp_path, clock) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from kanim.link.simulated import SimulatedCentral

    class Slow(SimulatedCentral):
        def push(self, operations, *, urgent=False):  # noqa: ANN001, ANN201
            if not seen:  # the first push: the relay reads the next batch meanwhile
                assert relay._next is not None
                relay._next.result(timeout=10)
                seen.append([o.subject for o in operations])
                seen.append("next read before the first answer")
            else:
                seen.append([o.subject for o in operations])
            return super().push(operations, urgent=urgent)

    seen: list = []
    with _office_on(tmp_path, clock, Slow(), link_batch=1) as office:
        first, second = _two_bookings(office)
        relay = Relay(office, office.central)
        assert relay.push_round().more
        relay.push_round()
        assert seen == [[first], "next read before the first answer", [second]]
        assert not relay.push_round().pushed
        with office.uow() as uow:
            assert not uow.session.scalar(select(t.outbox.c.id).where(t.outbox.c.status != "sent"))


def test_a_batch_read_ahead_is_read_again_when_the_queue_changed_under_it(tmp_path, clock) -> None:  # noqa: ANN001
    """A row of the batch read ahead parked meanwhile (or an earlier row of its application
    back in the queue): the batch is not sent as read, but read again."""
    from sqlalchemy import select, update

    from kanim.link.simulated import SimulatedCentral

    class Noting(SimulatedCentral):
        def push(self, operations, *, urgent=False):  # noqa: ANN001, ANN201
            pushed.append([o.id for o in operations])
            if len(pushed) == 1:  # while the first is applied, staff park the next one's row
                relay._next.result(timeout=10)
                with office.uow() as uow:
                    c = t.outbox.c
                    second_row = uow.session.scalar(select(c.id).where(c.subject == second))
                    uow.session.execute(update(t.outbox).where(c.id == second_row).values(status="dead"))
                    uow.commit()
            return super().push(operations, urgent=urgent)

    pushed: list = []
    with _office_on(tmp_path, clock, Noting(), link_batch=1) as office:
        first, second = _two_bookings(office)
        relay = Relay(office, office.central)
        relay.push_round()
        r = relay.push_round()
        assert len(pushed) == 1 and not r.pushed, "the parked row is not sent from the stale read"
        with office.uow() as uow:
            c = t.outbox.c
            assert uow.session.scalar(select(c.status).where(c.subject == second)) == "dead"
