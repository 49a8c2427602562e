"""The notification rules and worker on a real database (SQLite, and PostgreSQL when set).

The channel here is a recording stand-in (`Recorder`) that answers as it is told: these tests
are about which messages the office writes, when, and what the worker does with each answer.
The real channels (Apprise's plugins against local WhatsApp, SMS and SMTP servers) are in
tests/integration/test_notify_transport.py and tests/e2e/test_notify_worker.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.link.relay import sync_once
from kanim.notify.purposes import Purpose, State
from kanim.notify.transport import Outcome, SendResult
from kanim.notify.worker import Worker
from kanim.office import booking, notify, payment, pickup_slots, printing
from kanim.office.queries import notify as views
from kanim.seed import advance
from kanim.store import fanout
from kanim.store import tables as t

PHONE = "+6281234567890"
EMAIL = "siti@example.co.id"


def person(name: str = "Siti Rahmawati", nik: str = "3171014508900001", sex: Sex = Sex.F) -> booking.Applicant:
    return booking.Applicant(full_name=name, nik=nik, birth_date=date(1990, 8, 5), sex=sex,
                             app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)


@dataclass
class Recorder:
    """Answers `answer(channel, address)`; keeps every send it was asked for."""

    answer: Callable[[str, str], SendResult] = lambda c, a: SendResult(Outcome.ACCEPTED, None, "")
    sent: list[tuple[str, str, str, str]] = field(default_factory=list)  # channel, address, purpose, text

    def send(self, channel, address, rendered, *, message_id):  # noqa: ANN001, ANN201
        result = self.answer(str(channel), address)
        self.sent.append((str(channel), address, rendered.purpose.value, rendered.text))
        if result.outcome is Outcome.ACCEPTED and result.provider_ref is None:
            result = SendResult(Outcome.ACCEPTED, f"wamid.{message_id}", "")
        return result


def book(office, *, channel="whatsapp", phone=PHONE, email=EMAIL, language="id", applicants=None):  # noqa: ANN001, ANN201
    return booking.book(office, account_ref="acc-1", day=date(2026, 12, 1), slot="09:00",
                        applicants=applicants or [person()], actor="frontdesk", contact_phone=phone,
                        contact_email=email, preferred_channel=channel, language=language)


def messages(office, **where) -> list:  # noqa: ANN001
    m = t.notify_message.c
    with office.uow() as uow:
        q = select(t.notify_message).order_by(m.seq)
        for k, v in where.items():
            q = q.where(m[k] == v)
        return list(uow.session.execute(q))


def checked(office, apps, central=None) -> None:  # noqa: ANN001
    """Print and pass the quality check of `apps` (booklets received once); with `central`, sync:
    the central confirms them, and they are ready."""
    with office.uow(readonly=True) as uow:
        stocked = uow.session.scalar(select(func.count()).select_from(t.booklet))
    if not stocked:
        printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")
    for a in apps:
        advance(office, a.id, "printed", app_type=a.app_type)
        printing.quality_check(office, application_id=a.id, passed=True, actor="printer")
    if central is not None:
        sync_once(office, central)


def worker(office, recorder: Recorder | None = None) -> Worker:  # noqa: ANN001
    return Worker(office, recorder or Recorder(), holder="test-worker")


def test_a_booking_is_confirmed_once_on_the_applicants_channel_in_their_language(office) -> None:  # noqa: ANN001
    rec = Recorder()
    apps = book(office, language="en", applicants=[person(), person("Budi Santoso", "3171010508900002", Sex.M)])
    worker(office, rec).drain()
    sent = messages(office, purpose=Purpose.BOOKING_CONFIRMED.value)
    assert len(sent) == 1, "a family's booking is one appointment: one message"
    msg = sent[0]
    assert (msg.state, msg.channel, msg.language) == (State.SENT.value, "whatsapp", "en")
    assert msg.template and msg.version >= 1, "every message records the template version it was rendered from"
    assert rec.sent[0][:3] == ("whatsapp", PHONE, "booking_confirmed")
    assert apps[0].number in rec.sent[0][3] and "3171014508900001" not in rec.sent[0][3]
    assert "Rahmawati" not in msg.params.values(), "the first name only"
    with office.uow() as uow:
        assert fanout.status(uow, "notify").queued == 0


def test_each_consumer_has_its_own_share_of_an_event_in_the_events_transaction(office) -> None:  # noqa: ANN001
    app = book(office)[0]
    with office.uow() as uow:
        outbox = uow.session.scalar(select(func.count()).select_from(t.outbox).where(t.outbox.c.subject == app.id))
        queued = list(uow.session.execute(select(t.event_queue.c.name, t.event_queue.c.event_id)))
        ids = set(uow.session.scalars(select(t.outbox.c.id)))
    assert outbox == 1 and [q.name for q in queued] == ["ApplicationBooked"]
    assert queued[0].event_id in ids, "one id per event, shared by its consumers"


def test_a_failing_rule_is_retried_later_and_holds_back_nobody_else(office, clock, monkeypatch) -> None:  # noqa: ANN001
    a = book(office)[0]
    b = book(office, phone="+6281299990000")[0]
    calls = {"n": 0}
    real = notify.RULES["ApplicationBooked"]

    def flaky(uow, settings, facts, e):  # noqa: ANN001, ANN202
        if facts.id == a.id and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("a bug in one rule")
        return real(uow, settings, facts, e)

    monkeypatch.setitem(notify.RULES, "ApplicationBooked", flaky)
    w = worker(office)
    w.drain()
    assert [m.application_id for m in messages(office)] == [b.id], "the other application was told"
    with office.uow() as uow:
        st = fanout.status(uow, "notify")
        err = uow.session.scalar(select(t.event_queue.c.last_error))
    assert (st.queued, st.dead) == (1, 0) and err == "RuntimeError"
    clock.advance(seconds=2)
    w.drain()
    assert {m.application_id for m in messages(office)} == {a.id, b.id}
    with office.uow() as uow:
        assert fanout.status(uow, "notify").queued == 0


def test_a_printed_passport_waiting_for_the_central_gets_the_delay_notice_then_its_pickup_slot(
        office, central) -> None:  # noqa: ANN001
    app = book(office)[0]
    checked(office, [app])
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    assert [p for _, _, p, _ in rec.sent].count("printed_waiting") == 1
    sync_once(office, central)  # the central confirms: ready
    w.drain()
    ready = messages(office, purpose=Purpose.READY.value)
    assert len(ready) == 1 and ready[0].state == State.SENT.value
    with office.uow() as uow:
        slot = uow.session.execute(select(t.pickup_assignment).where(
            t.pickup_assignment.c.application_id == app.id)).one()
    assert ready[0].params["pickup_day"] == slot.day.isoformat() and ready[0].params["pickup_slot"] == slot.slot
    reminder = messages(office, purpose=Purpose.PICKUP_REMINDER.value)[0]
    assert reminder.state == State.CREATED.value and reminder.not_before > office.clock.now()


def test_a_channel_that_fails_for_good_falls_back_to_the_next_one(office) -> None:  # noqa: ANN001
    def answer(channel: str, address: str) -> SendResult:
        if channel == "whatsapp":
            return SendResult(Outcome.PERMANENT, None, "whatsapp-131026-not-on-whatsapp")
        if channel == "sms":
            return SendResult(Outcome.TECHNICAL, None, "not-configured")
        return SendResult(Outcome.ACCEPTED, None, "")

    rec = Recorder(answer)
    book(office)
    worker(office, rec).drain()
    assert [c for c, *_ in rec.sent] == ["whatsapp", "sms", "email"]
    msg = messages(office)[0]
    assert (msg.state, msg.channel, msg.address) == (State.SENT.value, "email", EMAIL)
    history = views.history(office, application_id=msg.application_id)[0]
    assert [a["outcome"] for a in history["attempts"]] == ["permanent", "technical", "accepted"]
    assert history["to"] != EMAIL and "•" in history["to"], "staff see masked addresses"


def test_a_temporary_failure_is_retried_with_backoff_and_pauses_its_channel(office, clock) -> None:  # noqa: ANN001
    answers = iter([SendResult(Outcome.TEMPORARY, None, "http-503")])
    rec = Recorder(lambda c, a: next(answers, SendResult(Outcome.ACCEPTED, None, "")))
    first = book(office)[0]
    w = worker(office, rec)
    w.run_once()
    assert [m.state for m in messages(office)] == [State.TEMPORARY_FAILURE.value]
    book(office, phone="+6281299990000")
    clock.advance(seconds=10)
    w.run_once()
    assert [m.state for m in messages(office)] == [State.TEMPORARY_FAILURE.value, State.CREATED.value], \
        "the channel pauses: a later message does not overtake the first"
    clock.advance(seconds=21)
    w.drain()
    assert [m.state for m in messages(office)] == [State.SENT.value, State.SENT.value]
    assert [a for _, a, _, _ in rec.sent] == [PHONE, PHONE, "+6281299990000"]
    assert messages(office)[0].application_id == first.id and messages(office)[0].attempts == 2


def test_one_number_over_its_own_limit_waits_alone_and_the_channel_goes_on(office, clock) -> None:  # noqa: ANN001
    office.settings.notify_concurrency = 1
    limited = "+6281200000000"
    rec = Recorder(lambda c, a: SendResult(Outcome.TEMPORARY, None, "whatsapp-131056-pair-rate-limit") if a == limited
                   else SendResult(Outcome.ACCEPTED, None, ""))
    book(office, phone=limited)
    for i in range(5):
        book(office, phone=f"+62812111{i:05d}")
    worker(office, rec).drain()
    states = [(m.address, m.state) for m in messages(office)]
    assert states[0] == (limited, State.TEMPORARY_FAILURE.value)
    assert all(state == State.SENT.value for _, state in states[1:]), "Meta's limit on one number holds back no one else"


def test_an_unreachable_channel_costs_no_retries_and_the_messages_wait_in_order(office, clock) -> None:  # noqa: ANN001
    office.settings.notify_retry_minutes = 10
    up = {"v": False}
    rec = Recorder(lambda c, a: SendResult(Outcome.ACCEPTED, None, "") if up["v"]
                   else SendResult(Outcome.TEMPORARY, None, "unreachable-connection-refused"))
    for i in range(3):
        book(office, phone=f"+62812999900{i:02d}")
    w = worker(office, rec)
    for _ in range(30):  # an hour without internet, far past the retry window
        clock.advance(minutes=2)
        w.run_once()
    assert all(m.state in (State.TEMPORARY_FAILURE.value, State.CREATED.value) for m in messages(office))
    assert messages(office)[0].attempts == 0
    up["v"] = True
    clock.advance(minutes=6)
    w.drain()
    assert [m.state for m in messages(office)] == [State.SENT.value] * 3
    assert [a for _, a, _, _ in rec.sent if True][-3:] == [f"+62812999900{i:02d}" for i in range(3)]


def test_a_provider_that_keeps_failing_gives_up_after_the_retry_window_and_falls_back(office, clock) -> None:  # noqa: ANN001
    office.settings.notify_retry_minutes = 10
    rec = Recorder(lambda c, a: SendResult(Outcome.TEMPORARY, None, "http-500") if c == "whatsapp"
                   else SendResult(Outcome.ACCEPTED, None, ""))
    book(office)
    w = worker(office, rec)
    for _ in range(12):
        clock.advance(minutes=5)
        w.run_once()
    msg = messages(office)[0]
    assert (msg.state, msg.channel) == (State.SENT.value, "sms")
    assert msg.reason is None or "fallback" not in (msg.reason or "")


def test_a_reply_stop_opts_out_and_cancels_what_waits(office) -> None:  # noqa: ANN001
    app = book(office)[0]
    with office.uow() as uow:
        assert notify.reply_intent(" berhenti ") == "opt_out"
        notify.opt_out(uow, PHONE, how="reply", settings=office.settings)
        uow.commit()
    rec = Recorder()
    worker(office, rec).drain()
    advance(office, app.id, "intake_done", app_type=app.app_type)
    payment.issue_billing(office, application_id=app.id, actor="cashier")
    worker(office, rec).drain()
    assert rec.sent == [], "nothing goes to an address that opted out"
    states = {(m.purpose, m.state, m.reason) for m in messages(office)}
    assert (Purpose.BOOKING_CONFIRMED.value, State.CANCELLED.value, "opted-out") in states
    assert all(s == State.CANCELLED.value for _, s, _ in states)
    with office.uow() as uow:
        detail = uow.session.scalar(select(t.audit_event.c.subject).where(t.audit_event.c.action == "notify_opt_out"))
    assert detail and PHONE not in detail, "the audit names no contact"


def test_a_rule_switched_off_writes_nothing(office) -> None:  # noqa: ANN001
    with office.uow() as uow:
        notify.set_rule(uow, Purpose.BOOKING_CONFIRMED, enabled=False, actor="supervisor")
        uow.commit()
    book(office)
    worker(office).drain()
    assert messages(office) == []


def test_the_billing_reminder_is_cancelled_once_the_code_is_paid(office, clock) -> None:  # noqa: ANN001
    app = book(office)[0]
    advance(office, app.id, "intake_done", app_type=app.app_type)
    billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    assert [p for _, _, p, _ in rec.sent] == ["booking_confirmed", "billing_issued"]
    reminder = messages(office, purpose=Purpose.BILLING_REMINDER.value)[0]
    assert reminder.not_before == billed.billing_expires_at - notify.BILLING_REMINDER_BEFORE
    payment.record_payment(office, billing_code=billed.billing_code, receipt_ref="BANK-1", actor="cashier")
    clock.advance(minutes=100)
    w.drain()
    assert messages(office, purpose=Purpose.BILLING_REMINDER.value)[0].state == State.CANCELLED.value
    assert "payment_received" in [p for _, _, p, _ in rec.sent]


def test_quiet_hours_hold_ordinary_notices_but_not_urgent_ones(office, clock) -> None:  # noqa: ANN001
    clock.current = datetime(2026, 11, 30, 15, 0, tzinfo=clock.now().tzinfo)  # 22:00 WIB
    app = book(office)[0]
    with office.uow() as uow:
        facts = notify.load_facts(uow, app.id)
        notify.create(uow, office.settings, facts, Purpose.ON_HOLD, scope="test", params={"reason_code": "verification"})
        uow.commit()
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    assert [p for _, _, p, _ in rec.sent] == ["on_hold"]
    clock.current = datetime(2026, 12, 1, 0, 30, tzinfo=clock.now().tzinfo)  # 07:30 WIB
    w.drain()
    assert [p for _, _, p, _ in rec.sent] == ["on_hold", "booking_confirmed"]


def test_the_hourly_cap_per_recipient_defers_a_flood(office, clock) -> None:  # noqa: ANN001
    office.settings.notify_recipient_hourly_cap = 2
    for i in range(4):
        book(office, applicants=[person(nik=f"317101450890{i + 1:04d}")])
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    assert len(rec.sent) == 2
    clock.advance(minutes=61)
    w.drain()
    assert len(rec.sent) == 4


def test_a_message_left_sending_by_a_killed_worker_goes_out_again_once(office) -> None:  # noqa: ANN001
    book(office)
    w = worker(office)
    w.run_once()
    m = t.notify_message.c
    with office.uow() as uow:  # as a worker killed between the channel's answer and its commit
        uow.session.execute(update(t.notify_message).values(state=State.SENDING.value, claimed_by="dead-worker"))
        uow.session.commit()
    rec = Recorder()
    Worker(office, rec, holder="next-worker").drain()
    assert len(rec.sent) == 1
    history = views.history(office, application_id=messages(office)[0].application_id)[0]
    assert [a["outcome"] for a in history["attempts"]] == ["accepted", "interrupted", "accepted"]
    with office.uow() as uow:
        assert uow.session.scalar(select(m.state)) == State.SENT.value


def test_a_whatsapp_receipt_marks_delivered_and_a_failed_one_falls_back(office) -> None:  # noqa: ANN001
    book(office)
    book(office, phone="+6281299990000")
    worker(office).drain()
    first, second = messages(office)
    with office.uow() as uow:
        assert notify.record_receipt(uow, provider_ref=first.provider_ref, status="read", at=office.clock.now())
        assert notify.record_receipt(uow, provider_ref=second.provider_ref, status="failed", at=office.clock.now(),
                                     error_code=131026)
        assert not notify.record_receipt(uow, provider_ref="wamid.other", status="read", at=office.clock.now())
        uow.commit()
    first, second = messages(office)
    assert first.state == State.DELIVERED.value and first.read_at is not None
    assert (second.state, second.channel) == (State.CREATED.value, "sms")


def test_staged_pickup_spreads_a_backlog_over_the_desks_capacity_and_tells_each_their_slot(
        office, central) -> None:  # noqa: ANN001
    office.settings.pickup_seats_per_slot = 1
    office.settings.pickup_slot_times = office.settings.pickup_slot_times[:2]
    apps = [book(office, phone=f"+62812999900{i:02d}", applicants=[person(nik=f"317101450890{i + 1:04d}")])[0]
            for i in range(5)]
    checked(office, apps, central)
    rec = Recorder()
    worker(office, rec).drain()
    with office.uow() as uow:
        slots = list(uow.session.execute(select(t.pickup_assignment.c.day, t.pickup_assignment.c.slot)))
    assert len(slots) == 5 and len(set(slots)) == 5, "one seat per slot: five slots"
    assert len({d for d, _ in slots}) == 3, "two slots a day: three days"
    ready = [x for x in rec.sent if x[2] == "ready"]
    assert len(ready) == 5 and len({a for _, a, _, _ in ready}) == 5, "each applicant told their own slot"


def test_a_no_show_is_moved_to_the_next_free_slot_and_told(office, central, clock) -> None:  # noqa: ANN001
    app = book(office)[0]
    checked(office, [app], central)
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    p = t.pickup_assignment.c
    with office.uow() as uow:
        day = uow.session.scalar(select(p.day).where(p.application_id == app.id))
    clock.advance(days=(day - clock.now().date()).days + 1)
    w.drain()
    with office.uow() as uow:
        moved = uow.session.execute(select(p.day, p.moves).where(p.application_id == app.id)).one()
    assert moved.day > day and moved.moves == 1
    assert "no_show" in [x[2] for x in rec.sent]


def test_an_applicant_confirms_or_changes_their_slot_by_reply(office, central) -> None:  # noqa: ANN001
    app = book(office)[0]
    checked(office, [app], central)
    rec = Recorder()
    w = worker(office, rec)
    w.drain()
    p = t.pickup_assignment.c
    with office.uow() as uow:
        before = uow.session.execute(select(p.day, p.slot)).one()
        assert pickup_slots.answer(office, uow, address=PHONE, intent="confirm") == 1
        uow.commit()
    with office.uow() as uow:
        assert uow.session.scalar(select(p.state)) == "confirmed"
        assert pickup_slots.answer(office, uow, address=PHONE, intent="change") == 1
        uow.commit()
    with office.uow() as uow:
        after = uow.session.execute(select(p.day, p.slot, p.state)).one()
    assert (after.day, after.slot) > (before.day, before.slot) and after.state == "offered"
    w.drain()
    assert "rescheduled" in [x[2] for x in rec.sent]
    with office.uow() as uow:
        code = uow.session.scalar(select(p.code))
        assert len(code) == 10 and pickup_slots.application_of(uow, code) == app.id
        assert pickup_slots.application_of(uow, "a" * 10) is None


@pytest.mark.parametrize("word,intent", [("STOP", "opt_out"), ("Berhenti.", "opt_out"), ("ya", "confirm"),
                                         ("GANTI", "change"), ("kapan paspor saya?", None)])
def test_short_replies_are_understood(word: str, intent: str | None) -> None:
    assert notify.reply_intent(word) == intent


@pytest.mark.parametrize("public_url,linked", [("https://mdo.imigrasi.id", True),
                                               ("https://kantor-imigrasi-manado.imigrasi.go.id/layanan-publik", False)])
def test_a_ready_sms_carries_the_slots_link_when_it_fits_in_two_segments(office, central, public_url, linked) -> None:  # noqa: ANN001
    office.settings.public_url = public_url
    app = book(office, channel="sms")[0]
    checked(office, [app], central)
    rec = Recorder()
    worker(office, rec).drain()
    ready = [text for c, _, p, text in rec.sent if p == "ready"]
    assert len(ready) == 1 and rec.sent[-1][0] == "sms"
    with office.uow() as uow:
        code = uow.session.scalar(select(t.pickup_assignment.c.code))
    assert (f"{public_url}/p/{code}" in ready[0]) is linked, "a link too long for two segments is left out"


# -- found by review: each once failed ------------------------------------------------------------

def test_a_kill_can_leave_at_most_the_concurrency_bound_sending(office) -> None:  # noqa: ANN001
    office.settings.notify_concurrency = 3
    for i in range(12):
        book(office, phone=f"+62812999900{i:02d}", applicants=[person(nik=f"317101450890{i + 1:04d}")])
    seen = []

    def answer(channel: str, address: str) -> SendResult:
        with office.uow(readonly=True) as uow:  # what a kill now would leave behind
            seen.append(uow.session.scalar(select(func.count()).where(t.notify_message.c.state == State.SENDING.value)))
        return SendResult(Outcome.ACCEPTED, None, "")

    worker(office, Recorder(answer)).drain()
    assert len(seen) == 12 and max(seen) <= 3


def test_a_receipt_that_outruns_the_sends_record_is_applied_when_it_lands(office) -> None:  # noqa: ANN001
    book(office)

    def answer(channel: str, address: str) -> SendResult:
        if channel != "whatsapp":
            return SendResult(Outcome.ACCEPTED, None, "")
        with office.uow() as uow:  # Meta's webhook, before the worker commits the wamid
            assert not notify.record_receipt(uow, provider_ref="wamid.early", status="failed",
                                             at=office.clock.now(), error_code=131026)
            uow.commit()
        return SendResult(Outcome.ACCEPTED, "wamid.early", "")

    worker(office, Recorder(answer)).drain()
    msg = messages(office)[0]
    assert msg.channel == "sms", "the failed receipt moved it to the next channel"


def test_failed_sends_do_not_use_up_the_daily_cap(office, clock) -> None:  # noqa: ANN001
    office.settings.notify_daily_cap = 2
    up = {"v": False}
    rec = Recorder(lambda c, a: SendResult(Outcome.ACCEPTED, None, "") if up["v"]
                   else SendResult(Outcome.TEMPORARY, None, "connection-refused"))
    book(office)
    book(office, phone="+6281299990000")
    w = worker(office, rec)
    for _ in range(6):
        clock.advance(minutes=6)
        w.run_once()
    up["v"] = True
    clock.advance(minutes=6)
    w.drain()
    assert [m.state for m in messages(office)] == [State.SENT.value] * 2


def test_a_family_asking_for_another_slot_moves_together(office, central) -> None:  # noqa: ANN001
    office.settings.pickup_seats_per_slot = 2
    family = book(office, applicants=[person(), person("Budi Santoso", "3171010508900002", Sex.M)])
    checked(office, family, central)
    w = worker(office)
    w.drain()
    p = t.pickup_assignment.c
    with office.uow() as uow:
        assert pickup_slots.answer(office, uow, address=PHONE, intent="change") == 2
        uow.commit()
    with office.uow() as uow:
        slots = set(uow.session.execute(select(p.day, p.slot)))
    assert len(slots) == 1, "a family is never split"


def test_a_reply_delivered_twice_moves_the_slot_once(office, central) -> None:  # noqa: ANN001
    from kanim.notify.receipts import Inbound
    from kanim.web.routers.notify import inbound_from_whatsapp

    app = book(office)[0]
    checked(office, [app], central)
    worker(office).drain()
    reply = Inbound(PHONE, "GANTI", office.clock.now(), "wamid.reply-1")
    inbound_from_whatsapp(office, [], [reply])
    inbound_from_whatsapp(office, [], [reply])
    with office.uow() as uow:
        assert uow.session.scalar(select(t.pickup_assignment.c.moves)) == 1


def test_a_plain_http_public_address_leaves_the_links_out_rather_than_failing(office, central) -> None:  # noqa: ANN001
    office.settings.public_url = "http://kanim.lan"
    app = book(office)[0]
    checked(office, [app], central)
    worker(office).drain()
    assert messages(office, purpose=Purpose.READY.value)[0].state == State.SENT.value


def test_dead_events_go_back_in_the_queue_with_the_command_once_fixed(tmp_path, clock, central, monkeypatch) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from kanim.cli import app
    from tests.conftest import make_office

    office, cleanup = make_office(tmp_path, "sqlite", clock, central)
    a = book(office)[0]
    monkeypatch.setitem(notify.RULES, "ApplicationBooked", lambda *args: (_ for _ in ()).throw(RuntimeError("bug")))
    w = worker(office)
    for _ in range(fanout.MAX_ATTEMPTS):
        w.drain()
        clock.advance(hours=1)
    with office.uow() as uow:
        assert fanout.status(uow, "notify").dead == 1
    monkeypatch.undo()  # the bug is fixed
    env = {"KANIM_DATA_DIR": str(tmp_path / "data"), "KANIM_OFFICE_CODE": "MND"}
    r = CliRunner().invoke(app, ["notify", "retry-dead"], env=env)
    assert r.exit_code == 0 and "1 dead event(s) back in the queue" in r.output, r.output
    w.drain()
    assert [m.application_id for m in messages(office)] == [a.id], "told once the rule works again"
    cleanup()
