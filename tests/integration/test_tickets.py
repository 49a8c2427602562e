"""The complaint desk end to end: a signed WhatsApp message becomes a ticket (a forged one
changes nothing), the front desk answers it in the console, and the real worker sends the reply
through Apprise to the WhatsApp Cloud API stand-in; tickets logged by staff, linked to an
application, refused by the desk's permission; the queue puts overdue tickets first; the weekly
report as a page and a CSV; the audit names the ticket only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.notify.worker import Worker, transport_for
from kanim.security.roles import Perm
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.console_desk_helpers import add_every_role, audit_rows, browser, csrf, htmx, refusals
from tests.integration.test_console_print_room import cheap_passwords
from tests.integration.test_notify_flow import book
from tests.notify_sinks import PHONE_NUMBER_ID, FakeWhatsAppCloud, inbound_payload, sign

SECRET = "meta-app-secret-7d2a"
HOOK = "/api/v1/notify/whatsapp/webhook"
DESK = "/staff/tickets"
SENDER = "6281355501234"  # as Meta writes it: no "+"


@pytest.fixture
def cloud():  # noqa: ANN201
    with FakeWhatsAppCloud() as fake:
        yield fake


@pytest.fixture
def office(tmp_path, clock, central, monkeypatch, cloud):  # noqa: ANN001, ANN201
    cheap_passwords(monkeypatch)
    url = f"whatsapp://{cloud.token}@{PHONE_NUMBER_ID}/?api=http://127.0.0.1:{cloud.port}"
    o, _ = make_office(tmp_path, "sqlite", clock, central, notify_webhook_secret=SECRET, notify_whatsapp_url=url)
    add_every_role(o)
    yield o
    o.engine.dispose()


def post_inbound(client: TestClient, text: str, *, at, secret: str = SECRET, msg_id: str = "wamid.in1"):  # noqa: ANN001
    payload = inbound_payload(SENDER, text, at)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = msg_id
    body = json.dumps(payload).encode()
    return client.post(HOOK, content=body, headers={"Content-Type": "application/json",
                                                    "X-Hub-Signature-256": sign(body, secret)})


def tickets_of(office) -> list:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return list(uow.session.execute(select(t.ticket).order_by(t.ticket.c.seq)))


def entries_of(office, ticket_id: str) -> list:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return list(uow.session.execute(select(t.ticket_entry).where(t.ticket_entry.c.ticket_id == ticket_id)
                                        .order_by(t.ticket_entry.c.id)))


def test_a_signed_whatsapp_question_becomes_a_ticket_answered_in_the_console_and_received_by_whatsapp(
        office, clock, cloud) -> None:  # noqa: ANN001
    c = browser(office, "front_desk")
    before = audit_rows(office)
    forged = post_inbound(c, "Paspor saya belum jadi?", at=clock.now(), secret="not-the-secret")
    assert forged.status_code == 401 and tickets_of(office) == [] and audit_rows(office) == before

    r = post_inbound(c, "Paspor saya belum jadi? Nomor MND-20261130-0001", at=clock.now())
    assert r.status_code == 200, r.text
    r = post_inbound(c, "Halo?", at=clock.now(), msg_id="wamid.in2")  # the same number: joins its ticket
    post_inbound(c, "Halo?", at=clock.now(), msg_id="wamid.in2")  # Meta delivered it twice: once
    [ticket] = tickets_of(office)
    assert (ticket.source, ticket.state, ticket.channel, ticket.address) == ("whatsapp", "new", "whatsapp", "+" + SENDER)
    assert [e.kind for e in entries_of(office, ticket.id)] == ["inbound", "inbound"]

    queue = c.get(DESK)
    assert queue.status_code == 200 and f'id="ticket-{ticket.id}"' in queue.text
    assert "+" + SENDER not in queue.text, "the queue shows the number masked"
    token = csrf(c, f"{DESK}/{ticket.id}")
    r = c.post(f"{DESK}/{ticket.id}/reply", data={"canned": "waiting_central", "text": "", "then": "waiting"},
               headers=htmx(token, "reply-form", key="k-reply-1"))
    assert r.status_code == 200 and 'data-state="waiting"' in r.text, r.text

    Worker(office, transport_for(office), holder="test-worker").drain()
    [sent] = [q.json for q in cloud.requests if isinstance(q.json, dict) and q.json.get("to")]
    assert sent["to"] in (SENDER, "+" + SENDER) and sent["template"]["name"] == "kanim_ticket_reply_v1"
    words = [p["text"] for comp in sent["template"]["components"] for p in comp["parameters"]]
    assert "ADU-000001" in words and any("konfirmasi sistem nasional" in w for w in words)
    reply = [e for e in entries_of(office, ticket.id) if e.kind == "reply"][0]
    with office.uow(readonly=True) as uow:
        state = uow.session.scalar(select(t.notify_message.c.state).where(t.notify_message.c.id == reply.message_id))
        rows = list(uow.session.execute(select(t.audit_event.c.action, t.audit_event.c.subject, t.audit_event.c.detail)
                                        .where(t.audit_event.c.action.like("ticket_%"))))
        first_response = uow.session.scalar(select(t.ticket.c.first_response_at))
    assert state == "sent" and first_response is not None
    assert {a for a, _, _ in rows} == {"ticket_opened", "ticket_inbound", "ticket_replied", "ticket_waiting"}
    assert all(s == ticket.id for _, s, _ in rows)
    assert SENDER not in json.dumps([d for _, _, d in rows], default=str)

    clock.advance(hours=2)
    post_inbound(c, "Baik, terima kasih", at=clock.now(), msg_id="wamid.in3")
    assert tickets_of(office)[0].state == "open", "the applicant's answer ends the wait"
    assert tickets_of(office)[0].pauses == [["2026-11-30", "2026-11-30"]]


def test_a_ticket_logged_at_the_counter_is_linked_to_the_application_and_lapor_refs_are_unique(office) -> None:  # noqa: ANN001
    [app] = book(office)
    c = browser(office, "supervisor")
    token = csrf(c, DESK)
    form = {"source": "lapor", "subject": "Lama", "body": "Sudah dua minggu", "number": app.number,
            "lapor_ref": "LAPOR-4711", "channel": "sms", "address": "081234567890", "language": "id"}
    r = c.post(DESK, data=form, headers=htmx(token, "ticket-form", key="k-log-1"))
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith(f"{DESK}/"), r.text
    [ticket] = tickets_of(office)
    assert (ticket.application_id, ticket.address, ticket.lapor_ref) == (app.id, "+6281234567890", "LAPOR-4711")
    again = c.post(DESK, data=form, headers=htmx(token, "ticket-form", key="k-log-2"))
    assert again.status_code == 409 and "LAPOR-4711" in again.text, again.text
    assert len(tickets_of(office)) == 1


def test_the_queue_puts_overdue_tickets_first_and_the_weekly_report_counts_them(office, clock) -> None:  # noqa: ANN001
    from kanim.domain.tickets import Source
    from kanim.office import tickets
    from kanim.office.queries import tickets as queries

    old = tickets.open_ticket(office, tickets.NewTicket(Source.HOTLINE, "Old", "called"), actor="front_desk")
    clock.advance(days=4)  # Friday: Monday's ticket had until Thursday for a first response
    fresh = tickets.open_ticket(office, tickets.NewTicket(Source.COUNTER, "New", "asked"), actor="front_desk")
    rows = queries.queue(office)
    assert [r.id for r in rows] == [old, fresh] and rows[0].clocks.overdue and not rows[1].clocks.overdue
    report = queries.weekly(office)
    assert (report.opened, report.by_source["hotline"], report.by_source["counter"], report.overdue_now) == (2, 1, 1, 1)
    c = browser(office, "front_desk")
    page = c.get(f"{DESK}/report")
    assert page.status_code == 200 and 'id="fig-overdue">1<' in page.text
    csv_text = c.get(f"{DESK}/report.csv").text
    assert "opened_by_source,hotline,1" in csv_text and "overdue_now,,1" in csv_text


def test_every_route_of_the_desk_refuses_a_role_without_its_permission(office) -> None:  # noqa: ANN001
    from kanim.domain.tickets import Source
    from kanim.office import tickets

    tid = tickets.open_ticket(office, tickets.NewTicket(Source.COUNTER, "x", "y"), actor="front_desk")
    perms = {("GET", DESK): Perm.HANDLE_TICKETS, ("POST", DESK): Perm.HANDLE_TICKETS,
             ("GET", f"{DESK}/{{id}}"): Perm.HANDLE_TICKETS, ("POST", f"{DESK}/{{id}}/reply"): Perm.HANDLE_TICKETS,
             ("GET", f"{DESK}/report.csv"): Perm.HANDLE_TICKETS}
    assert refusals(office, perms, {"id": tid}) == []


def test_a_tickets_life_on_each_database(tmp_path, backend, clock, central) -> None:  # noqa: ANN001
    """SQLite and PostgreSQL: an SMS opens a ticket, waiting pauses it until the applicant
    answers, a resolved ticket reopens on their next message, a closed one takes no reply."""
    from kanim.domain.errors import Conflict, InvalidInput
    from kanim.office import tickets
    from kanim.office.queries import tickets as queries

    office, cleanup = make_office(tmp_path, backend, clock, central)
    try:
        def inbound(text: str) -> str:
            with office.uow() as uow:
                tid = tickets.from_inbound(office, uow, channel="sms", address="+6281234567890", text=text,
                                           at=uow.now())
                uow.commit()
            return tid

        tid = inbound("Kapan paspor saya jadi?")
        for words, code in (("kata " * 100, "ticket-reply-too-long"), ("NIK 3171014508900001", "ticket-reply-invalid")):
            with pytest.raises(InvalidInput) as refused:
                tickets.reply(office, tid, text=words, actor="front_desk")
            assert refused.value.code == code, "refused at the desk, not failed at the send"
        tickets.reply(office, tid, text=tickets.canned_text("need_number", "id"), actor="front_desk",
                      then=tickets.TicketState.WAITING)
        clock.advance(days=1)
        assert inbound("MND-20261130-0001") == tid
        view = queries.detail(office, tid)
        assert (view.row.source, view.row.state, view.row.channel) == ("sms", "open", "sms")
        assert [e.kind for e in view.entries] == ["inbound", "reply", "state", "inbound"]
        tickets.move(office, tid, to=tickets.TicketState.RESOLVED, actor="front_desk")
        assert inbound("Belum juga") == tid and queries.detail(office, tid).row.state == "open"
        tickets.move(office, tid, to=tickets.TicketState.CLOSED, actor="front_desk")
        with pytest.raises(Conflict):
            tickets.reply(office, tid, text="Halo", actor="front_desk")
        assert inbound("Masih ada pertanyaan") != tid, "a closed ticket stays closed: a new one opens"
        with office.uow(readonly=True) as uow:
            purposes = list(uow.session.scalars(select(t.notify_message.c.purpose)))
        assert purposes == ["ticket_reply"]
    finally:
        office.engine.dispose()
        cleanup()
