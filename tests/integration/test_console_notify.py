"""The notifications desk, the pickup desk's day by slot and the supervisor's extra pickup service
in the console, in process: who may open each page, the queue and its failures, one
application's history with masked addresses only, a rule switched off through its form, a
template previewed on each channel, a confirmed applicant in their slot, and extra service
opened (a past day refused beside the day)."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.notify import render
from kanim.notify.purposes import Purpose
from kanim.notify.transport import Outcome, SendResult
from kanim.notify.worker import Worker
from kanim.office import booking, notify, pickup_slots, printing
from kanim.security.roles import Perm
from kanim.store import tables as t
from kanim.web.console import notifications
from tests.conftest import make_office
from tests.integration.console_desk_helpers import (
    add_every_role,
    audit_rows,
    browser,
    csrf,
    htmx,
    in_english,
    refusals,
    routes_of,
    without_csrf,
)
from tests.integration.test_console_pickup import ready
from tests.integration.test_console_print_room import cheap_passwords
from tests.integration.test_notify_flow import Recorder

DESK = "/staff/notifications"
PERMS = {("GET", DESK): Perm.VIEW_NOTIFY, ("GET", f"{DESK}/history"): Perm.VIEW_NOTIFY,
         ("GET", f"{DESK}/rules"): Perm.VIEW_NOTIFY, ("POST", f"{DESK}/rules/{{purpose}}"): Perm.MANAGE_NOTIFY,
         ("GET", f"{DESK}/preview"): Perm.MANAGE_NOTIFY}
EXTRA = "/staff/supervisor/pickup-extra"
PHONE, EMAIL = "+6281234567890", "siti.rahmawati@example.co.id"
BUDI_PHONE = "+6281399887766"
SATURDAY = date(2026, 12, 5)  # the clock's Monday is 30 November 2026
SITI = booking.Applicant(full_name="Siti Rahmawati", nik="3171014508900001", birth_date=date(1990, 8, 5), sex=Sex.F,
                         app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)
BUDI = booking.Applicant(full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex=Sex.M,
                         app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)


@pytest.fixture
def office(tmp_path, clock, central, monkeypatch):  # noqa: ANN001, ANN201
    cheap_passwords(monkeypatch)
    o, _ = make_office(tmp_path, "sqlite", clock, central)
    add_every_role(o)
    yield o
    o.engine.dispose()


def answer(channel: str, address: str) -> SendResult:
    """WhatsApp does not know Siti's number and the SMS gateway is not set up: her message goes
    by email. Budi left only a phone, and the gateway says his number does not exist."""
    if address == BUDI_PHONE:
        return SendResult(Outcome.PERMANENT, None, "smseagle-invalid-number")
    if channel == "whatsapp":
        return SendResult(Outcome.PERMANENT, None, "whatsapp-131026-not-on-whatsapp")
    if channel == "sms":
        return SendResult(Outcome.TECHNICAL, None, "not-configured")
    return SendResult(Outcome.ACCEPTED, None, "")


def told(office):  # noqa: ANN001, ANN201
    """Two bookings and their confirmations sent: Siti's by email after two failures, Budi's
    failed for good. Returns their applications."""
    siti = booking.book(office, account_ref="acc-1", day=date(2026, 12, 1), slot="09:00", actor="front_desk",
                        applicants=[SITI], contact_phone=PHONE,
                        contact_email=EMAIL, preferred_channel="whatsapp")[0]
    budi = booking.book(office, account_ref="acc-2", day=date(2026, 12, 1), slot="10:00", actor="front_desk",
                        applicants=[BUDI], contact_phone=BUDI_PHONE,
                        preferred_channel="sms")[0]
    Worker(office, Recorder(answer), holder="test-worker").drain()
    return siti, budi


def audits(office, action: str) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.session.scalar(select(func.count()).where(t.audit_event.c.action == action))


def beside(response, form: str, field: str) -> str:  # noqa: ANN001
    m = re.search(rf'id="{form}-err-{field}" class="field-error" hx-swap-oob="true">([^<]*)<', response.text)
    return html.unescape(m.group(1)) if m else ""


# -- who may open what ---------------------------------------------------------------------------

def test_every_notifications_route_is_listed_here_with_its_permission() -> None:
    assert routes_of(notifications.router) == set(PERMS)


def test_every_notifications_route_refuses_another_role_and_sends_a_stranger_to_log_in(office) -> None:  # noqa: ANN001
    assert refusals(office, PERMS, {"purpose": "ready"}) == []


def test_the_desk_is_in_the_menu_of_the_roles_that_may_read_it(office) -> None:  # noqa: ANN001
    for role in ("supervisor", "admin", "pickup_desk"):
        page = browser(office, role).get(DESK)
        assert page.status_code == 200 and 'href="/staff/notifications" aria-current="page"' in page.text, role
    cashier = browser(office, "cashier")
    assert 'href="/staff/notifications"' not in cashier.get("/staff/cashier").text
    refused = cashier.get(DESK)
    assert refused.status_code == 403 and "Loket ini bukan untuk Anda" in refused.text


def test_only_a_supervisor_sees_the_switches_and_the_preview(office) -> None:  # noqa: ANN001
    admin = browser(office, "admin")
    rules = admin.get(f"{DESK}/rules").text
    assert 'id="rule-ready"' in rules and 'id="rule-ready-button"' not in rules and 'id="rules-who-switches"' in rules
    assert 'id="notify-nav-preview"' not in rules
    supervisor = browser(office, "supervisor").get(f"{DESK}/rules").text
    assert 'id="rule-ready-button"' in supervisor and 'id="notify-nav-preview"' in supervisor


# -- the queue and the histories -----------------------------------------------------------------

def test_the_desk_counts_by_state_and_channel_and_warns_that_no_worker_runs(office) -> None:  # noqa: ANN001
    _, budi = told(office)
    page = browser(office, "supervisor").get(DESK).text
    assert 'id="worker" data-worker=""' in page and "Tidak ada worker pemberitahuan yang berjalan." in page
    sent = page[page.index('<tr data-state="sent">'):]
    assert re.search(r'<td class="num">1</td>', sent[:600]), "Siti's confirmation went by email"
    assert 'id="messages-failed" data-value="1"' in page and 'id="events-queued" data-value="0"' in page
    row = page[page.index('<tr id="failure-'):]
    row = row[:row.index("</tr>")]
    assert f'href="/staff/notifications/history?application={budi.number}"' in row
    assert "Janji temu terkonfirmasi" in row and "gagal (permanen)" in row and "smseagle-invalid-number" in row
    assert "+62813•••••766" in row and BUDI_PHONE not in page


def test_the_desk_names_the_worker_holding_the_lease(office) -> None:  # noqa: ANN001
    from datetime import timedelta

    from kanim.notify.worker import LEASE

    with office.uow() as uow:  # the lease as a worker on another host holds it: '<holder> <until>'
        until = uow.now() + timedelta(seconds=30)
        uow.session.execute(t.link_cursor.insert().values(name=LEASE, value=f"kanim-node-1:4242 {until.isoformat()}"))
        uow.commit()
    page = browser(office, "admin").get(DESK).text
    assert 'data-worker="kanim-node-1:4242"' in page and "Worker pemberitahuan berjalan: kanim-node-1:4242." in page


def test_the_history_shows_every_message_and_attempt_with_masked_addresses_only(office) -> None:  # noqa: ANN001
    siti, _ = told(office)
    page = browser(office, "pickup_desk").get(f"{DESK}/history", params={"application": siti.number}).text
    assert f'id="history" data-application="{siti.number}"' in page
    message = page[page.index('<article class="message"'):]
    assert "Janji temu terkonfirmasi" in message and "terkirim" in message
    assert re.search(r"<code>booking_confirmed/email/id</code> · versi \d+", message)
    assert [html.unescape(o) for o in re.findall(r'<tr data-outcome="([^"]+)">', message)] == \
        ["permanent", "technical", "accepted"]
    assert "whatsapp-131026-not-on-whatsapp" in message and "not-configured" in message
    assert "s•••@example.co.id" in page
    for secret in (PHONE, EMAIL, PHONE[1:], "siti.rahmawati", "81234567890"):
        assert secret not in page, f"{secret} is on the history page"


def test_an_unknown_number_is_said_beside_the_search_field(office) -> None:  # noqa: ANN001
    page = browser(office, "admin").get(f"{DESK}/history", params={"application": "MDO-20261130-9999"}).text
    assert 'id="history"' not in page and 'aria-invalid="true"' in page
    field = re.search(r'id="history-search-err-application" class="field-error">([^<]*)<', page).group(1)
    assert html.unescape(field) == "Tidak ada permohonan bernomor “MDO-20261130-9999” di kantor ini."


# -- the rules -------------------------------------------------------------------------------------

def test_a_rule_switched_off_through_its_form_is_audited_and_writes_no_more_messages(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    token = csrf(c, f"{DESK}/rules")
    r = c.post(f"{DESK}/rules/booking_confirmed", data={"enabled": "false"},
               headers=htmx(token, "rule-booking_confirmed-form", key="rule-1"))
    assert r.status_code == 200 and 'id="rules-notice"' in r.text
    assert "“Janji temu terkonfirmasi” dimatikan" in html.unescape(r.text)
    assert '<tr id="rule-booking_confirmed" data-enabled="false">' in r.text
    assert re.search(r"supervisor, 30 November 2026, 08:00 WIB", r.text)
    assert audits(office, "notify_rule_set") == 1
    with office.uow(readonly=True) as uow:
        assert notify.enabled(uow, Purpose.BOOKING_CONFIRMED) is False
    siti, _ = told(office)
    page = c.get(f"{DESK}/history", params={"application": siti.number}).text
    assert 'id="history-empty"' in page, "a switched-off rule writes nothing"
    again = c.post(f"{DESK}/rules/booking_confirmed", data={"enabled": "true"},
                   headers=htmx(csrf(c, f"{DESK}/rules"), "rule-booking_confirmed-form", key="rule-2"))
    assert "dinyalakan" in again.text and audits(office, "notify_rule_set") == 2


def test_a_rule_switch_needs_its_csrf_token_and_a_manager(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    assert without_csrf(c, office, [f"{DESK}/rules/ready"], {"enabled": "false"}) == []
    admin = browser(office, "admin")
    before = audit_rows(office)
    r = admin.post(f"{DESK}/rules/ready", data={"enabled": "false"},
                   headers=htmx(csrf(admin, f"{DESK}/rules"), "rule-ready-form", key="rule-admin"))
    assert r.status_code == 403 and audit_rows(office) == before


# -- the template preview ------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["id", "en"])
def test_a_template_previews_on_each_channel(office, language: str) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    for channel in ("whatsapp", "sms", "email"):
        message = render.preview("ready", channel, language)
        r = c.get(f"{DESK}/preview", params={"purpose": "ready", "channel": channel, "language": language})
        assert r.status_code == 200, (channel, r.text[:500])
        assert f'data-template="ready/{channel}/{language}"' in r.text and f"versi {message.version}" in r.text
        if channel == "whatsapp":
            assert f'<code id="preview-whatsapp-name">{message.whatsapp_template}</code>' in r.text
            assert "<code>{{1}}</code>" in r.text and all(str(escape(p)) in r.text for p in message.whatsapp_params)
        elif channel == "sms":
            assert f'data-segments="{message.segments}"' in r.text and f"{message.segments} segmen SMS" in r.text
        else:
            assert str(escape(message.subject)) in r.text
            assert 'sandbox=""' in r.text and f'srcdoc="{escape(message.html)}"' in r.text
            assert message.html not in r.text and "<table" not in r.text.split('id="preview-html"')[1][:200]


def test_the_preview_answers_htmx_with_the_message_alone(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    r = c.get(f"{DESK}/preview", params={"purpose": "billing_issued", "channel": "sms", "language": "id"},
              headers={"HX-Request": "true"})
    assert r.text.lstrip().startswith('<div id="preview-result"') and "<html" not in r.text
    assert c.get(f"{DESK}/preview", params={"purpose": "nonsense"}).status_code == 422


# -- the pickup desk's day -----------------------------------------------------------------------

def test_the_pickup_desk_sees_its_day_by_slot_and_who_confirmed(office, central) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="print_operator")
    app = ready(office, central)
    Worker(office, Recorder(), holder="test-worker").drain()  # the round gives it a pickup slot
    with office.uow() as uow:
        slot = uow.session.execute(select(t.pickup_assignment).where(
            t.pickup_assignment.c.application_id == app.id)).one()
        pickup_slots.answer(office, uow, application_id=app.id, intent="confirm")
        uow.commit()
    c = browser(office, "pickup_desk")
    assert 'href="/staff/pickup/day"' in c.get("/staff/pickup").text
    today = c.get("/staff/pickup/day").text
    assert 'data-day="2026-11-30"' in today and "hari ini" in today
    page = c.get("/staff/pickup/day", params={"day": slot.day.isoformat()}).text
    card = page[page.index(f'data-slot="{slot.slot}"'):]
    card = card[:card.index("</section>")]
    assert f'<tr id="slot-person-{app.id}" data-state="confirmed">' in card and app.number in card
    assert "Siti Rahmawati" in card and "sudah konfirmasi" in card
    assert re.search(r"1 dari \d+ kursi · 1 sudah konfirmasi", card)
    assert "1 pemohon terjadwal di" in page and "1 sudah konfirmasi, 0 belum menjawab, 0 sudah mengambil" in page


def test_a_day_without_service_says_so(office) -> None:  # noqa: ANN001
    page = browser(office, "pickup_desk").get("/staff/pickup/day", params={"day": "2026-12-06"}).text
    assert 'id="day-closed"' in page and "6 Desember 2026" in page and 'class="card slot"' not in page


# -- extra pickup service ------------------------------------------------------------------------

def post_extra(c, data: dict, key: str):  # noqa: ANN001, ANN201
    return c.post(EXTRA, data=data, headers=htmx(csrf(c, "/staff/supervisor"), "pickup-extra-form", key=key))


def test_a_supervisor_opens_extra_pickup_service_and_the_pickup_desk_sees_its_slots(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    desk = c.get("/staff/supervisor").text
    assert 'id="pickup-extra-form"' in desk and 'id="pickup-extra-none"' in desk
    r = post_extra(c, {"day": SATURDAY.isoformat(), "slots": "8:00, 09:00 10:00", "seats": "15"}, key="extra-1")
    assert r.status_code == 200 and 'id="pickup-extra-opened"' in r.text and "5 Desember 2026" in r.text
    row = r.text[r.text.index(f'<tr data-day="{SATURDAY.isoformat()}">'):]
    assert "08:00, 09:00, 10:00" in row[:300] and '<td class="num">15</td>' in row[:400]
    assert audits(office, "pickup_extra_opened") == 1
    again = post_extra(c, {"day": SATURDAY.isoformat(), "slots": "8:00, 09:00 10:00", "seats": "15"}, key="extra-1")
    assert again.headers.get("Idempotent-Replayed") == "true" and audits(office, "pickup_extra_opened") == 1
    day = browser(office, "pickup_desk").get("/staff/pickup/day", params={"day": SATURDAY.isoformat()}).text
    assert 'id="day-closed"' not in day and day.count('class="card slot"') == 3 and "0 dari 15 kursi" in day


def test_extra_service_on_a_past_or_already_open_day_is_refused_beside_the_day(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    r = post_extra(c, {"day": "2026-11-27", "slots": "09:00", "seats": "10"}, key="past")
    assert r.status_code == 422 and 'data-code="pickup-extra-past"' in r.text
    assert r.headers["HX-Retarget"] == "#pickup-extra-form-problem"
    assert beside(r, "pickup-extra-form", "day") == "Layanan tambahan hanya dapat dibuka untuk hari setelah hari ini."
    post_extra(c, {"day": SATURDAY.isoformat(), "slots": "09:00", "seats": "10"}, key="first")
    r = post_extra(c, {"day": SATURDAY.isoformat(), "slots": "10:00", "seats": "10"}, key="second")
    assert r.status_code == 409
    assert beside(r, "pickup-extra-form", "day") == "Layanan tambahan sudah dibuka pada hari itu."
    r = post_extra(c, {"day": "2026-12-12", "slots": "9h", "seats": "10"}, key="format")
    assert 'data-code="pickup-slot-format"' in r.text and beside(r, "pickup-extra-form", "slots")
    r = post_extra(c, {"day": "2026-12-12", "slots": " ", "seats": "0"}, key="empty")
    assert r.status_code == 422 and beside(r, "pickup-extra-form", "slots") and beside(r, "pickup-extra-form", "seats")
    assert audits(office, "pickup_extra_opened") == 1


def test_only_a_supervisor_opens_extra_service(office) -> None:  # noqa: ANN001
    for role in ("admin", "pickup_desk", "interviewer"):
        c = browser(office, role)
        r = c.post(EXTRA, data={"day": SATURDAY.isoformat(), "slots": "09:00", "seats": "10"},
                   headers=htmx(csrf(c, "/staff/"), "pickup-extra-form", key=f"extra-{role}"))
        assert r.status_code == 403, role
    assert without_csrf(browser(office, "supervisor"), office, [EXTRA],
                        {"day": SATURDAY.isoformat(), "slots": "09:00", "seats": "10"}) == []
    assert audits(office, "pickup_extra_opened") == 0


# -- in English ------------------------------------------------------------------------------------

def test_the_desk_speaks_english(office) -> None:  # noqa: ANN001
    told(office)
    c = browser(office, "supervisor")
    in_english(c, DESK)
    page = c.get(DESK).text
    assert "Queue and failures" in page and "Booking confirmed" in page and "failed (permanent)" in page
    assert "No notification worker is running." in page
    preview = c.get(f"{DESK}/preview", params={"purpose": "ready", "channel": "sms", "language": "en"}).text
    assert "Passport ready for pickup" in preview and "SMS segments" in preview
