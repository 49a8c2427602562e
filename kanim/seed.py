"""Demo data for `kanim demo`: holidays, the central's watch-list snapshot through the link, and
a day of appointments at every stage. Everything goes through the real use cases, and with a
central configured every clearance of an application that is `ready` or `handed_over` was really
confirmed by that central through the link, so the demo database looks exactly like one an
office would have after a morning's work. Accounts and booklets come from the provisioning
(kanim/ops/cluster.py: `provision`), as an office gets them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kanim.bootstrap import Office
from kanim.domain.application import Handover, Priority, RecipientKind
from kanim.domain.calendar import add_working_days, is_working_day
from kanim.domain.passport import ApplicationType, DocumentKind, PassportKind
from kanim.domain.people import Sex
from kanim.office import admin, adjudication, booking, capture, intake, payment, printing
from kanim.office import handover as handover_desk

SEED_DATA = Path(__file__).parent / "seed_data"
HOLIDAYS_2026 = {
    date(2026, 12, 25): "Hari Raya Natal",
    date(2026, 12, 24): "Cuti bersama Natal",
    date(2027, 1, 1): "Tahun Baru Masehi",
}
# (name, sex, birth date, NIK): NIKs consistent with sex (+40 for women) and birth date.
PEOPLE = [
    ("Siti Rahmawati", Sex.F, date(1990, 8, 5), "3171014508900001"),
    ("Budi Santoso", Sex.M, date(1985, 3, 12), "3578011203850002"),
    ("Sukarno", Sex.M, date(1978, 6, 6), "7171010606780003"),
    ("Dewi Lestari Putri", Sex.F, date(2012, 1, 20), "7171016001120004"),
    ("Agus Salim", Sex.M, date(1969, 11, 30), "3273013011690005"),
    ("Ni Made Ayu Wulandari", Sex.F, date(1995, 2, 28), "5171016802950006"),
    ("Muhammad Rizky Pratama", Sex.M, date(2001, 9, 17), "3201011709010007"),
    ("Yohana Kristina Manurung", Sex.F, date(1988, 12, 1), "1271014112880008"),
    ("Andi Pangerang", Sex.M, date(1975, 4, 25), "7371012504750009"),
    ("Putu Gede Arsana", Sex.M, date(1999, 7, 7), "5103010707990010"),
    ("Rina Marlina", Sex.F, date(1983, 10, 10), "3174015010830011"),
    ("Hendra Wijaya", Sex.M, date(1992, 5, 15), "3175011505920012"),
]
# In the central's civil-registry extract but with no application yet: people a newcomer can walk
# in with (`kanim demo` prints them). Each can apply once: a second open application for the
# same NIK is a duplicate, which the central flags.
SPARE_PEOPLE = [
    ("Fransiska Sondakh", Sex.F, date(1987, 4, 14), "7171015404870101"),
    ("Jefry Lumentut", Sex.M, date(1991, 11, 3), "7171010311910102"),
    ("Meiske Rumengan", Sex.F, date(1979, 2, 22), "7171016202790103"),
    ("Stevanus Wenas", Sex.M, date(1996, 6, 9), "7171010906960104"),
    ("Grace Tumbelaka", Sex.F, date(2003, 9, 30), "7171017009030105"),
    ("Wayan Kalangi", Sex.M, date(1984, 1, 17), "7171011701840106"),
]
# How far each seeded application gets through the day.
STAGES = ["booked", "booked", "checked_in", "intake_done", "paid", "captured", "interviewed",
          "approved", "printed", "ready", "handed_over", "handed_over"]


def face_photo() -> bytes:
    """A public-domain face (NASA's portrait of Eileen Collins, scikit-image's `astronaut`),
    cropped and set on a plain white background like a passport photo."""
    return (SEED_DATA / "face.jpg").read_bytes()


def fingerprint_image() -> bytes:
    return (SEED_DATA / "finger.png").read_bytes()


def civil_registry_csv(people: list[tuple[str, Sex, date, str]]) -> str:
    """The Dukcapil extract the central loads (`kanim central registry load`)."""
    rows = [f"{nik},{name},{born.isoformat()},{sex.value},{kk_number(nik)}\n" for name, sex, born, nik in people]
    return "nik,full_name,birth_date,sex,kk_number\n" + "".join(rows)


def kk_number(nik: str) -> str:
    """The family card (KK) number of a demo person: the NIK's region and serial."""
    return f"{nik[:6]}10{nik[-8:]}"


class SeedError(Exception):
    """The demo could not be seeded (the central did not answer or refused its snapshot)."""


def seed_office(office: Office) -> None:
    """Holidays, the central's signed watch-list snapshot (fetched by the link, as the relay
    does), then the day. `office.central` is the central the day is confirmed by."""
    for day, name in HOLIDAYS_2026.items():
        admin.add_holiday(office, day=day, name=name, actor="seed")
    if office.central is not None:
        sync_until_idle(office)
        from kanim.link.views import status

        st = status(office)
        if st["watchlist_snapshot_at"] is None:
            raise SeedError(f"no watch-list snapshot from the central: {st['watchlist_problem'] or 'none sent'}")
    _seed_day(office)
    _seed_status(office)
    if office.central is not None:
        sync_until_idle(office)  # the central holds the whole morning before the office opens


def _seed_status(office: Office) -> None:
    """The demo's status page: an incident being worked on, and maintenance announced for the
    coming weekend (`/status`, `/staff/status`)."""
    from datetime import timedelta

    from kanim.domain.status_page import Component, IncidentState, Level
    from kanim.office import status_page

    incident = status_page.open_incident(
        office, kind="incident", title_id="Antrean pengambilan paspor padat", title_en="Busy passport pickup queue",
        body_id="Banyak paspor siap diambil sekaligus; datanglah pada jadwal Anda sendiri.",
        body_en="Many passports became ready at once; please come in your own pickup slot.",
        components=[Component.PICKUP], impact=Level.DEGRADED, actor="seed")
    status_page.add_update(office, incident_id=incident, state=IncidentState.MONITORING,
                           body_id="Layanan tambahan dibuka hari Sabtu.", body_en="Extra service opens on Saturday.",
                           actor="seed")
    start = office.clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=4)
    status_page.open_incident(
        office, kind="maintenance", title_id="Pemeliharaan server kantor", title_en="Office server maintenance",
        body_id="Pendaftaran antrean daring berhenti selama dua jam.", body_en="Online booking stops for two hours.",
        components=[Component.BOOKING], impact=Level.MAJOR_OUTAGE, starts_at=start, ends_at=start + timedelta(hours=2),
        actor="seed")


def sync_until_idle(office: Office, *, rounds: int = 50) -> None:
    """Link rounds until nothing is left to push or pull (a decision applied at the office is
    itself an operation the next round reports back)."""
    from kanim.link.relay import sync_once

    assert office.central is not None
    for _ in range(rounds):
        r = sync_once(office, office.central)
        if r.error:
            raise SeedError(f"the central did not answer: {r.error}")
        if r.dead:
            raise SeedError("the central refused an operation (see `kanim link dead-letters`)")
        if not (r.more or r.pushed or r.pulled):
            return
    raise SeedError(f"the link was still busy after {rounds} rounds")


def _seed_day(office: Office) -> None:
    from kanim.clock import local_date

    with office.uow() as uow:
        today = local_date(uow.now(), office.settings.timezone)  # the office's day, not UTC's (00:00-07:00 WIB)
    day = today if is_working_day(today, frozenset(HOLIDAYS_2026)) else add_working_days(today, 1, frozenset(HOLIDAYS_2026))
    apps = []
    for i, (name, sex, born, nik) in enumerate(PEOPLE):
        a = booking.Applicant(full_name=name, nik=nik, birth_date=born, sex=sex,
                              app_type=ApplicationType.RENEWAL if i % 4 == 1 else ApplicationType.NEW,
                              passport_kind=PassportKind.ELECTRONIC if i % 3 == 0 else PassportKind.ORDINARY,
                              birth_place="Manado", kk_number=kk_number(nik),
                              priority=Priority.HAJJ_UMRAH if i == 5 else Priority.NONE)
        apps += booking.book(office, account_ref=f"demo-account-{i}", day=day,
                             slot=office.settings.slot_times[i % len(office.settings.slot_times)].strftime("%H:%M"),
                             applicants=[a], actor="front_desk", contact_phone=f"+628123456{i:04d}",
                             preferred_channel="telegram" if i == TELEGRAM_APPLICANT else None,
                             language="en" if i % 5 == 4 else "id")
    _started_telegram(office, apps[TELEGRAM_APPLICANT].booking_id)
    # Up to the print room first; then the link brings the central's decisions, so that a
    # passport is `ready` at its quality check only because the central confirmed it.
    for app, target in zip(apps, STAGES, strict=True):
        advance(office, app.id, _earlier(target, "printed"), app_type=app.app_type)
    if office.central is not None:
        sync_until_idle(office)
    for app, target in zip(apps, STAGES, strict=True):
        advance(office, app.id, target, app_type=app.app_type, after="printed")
    _seed_tickets(office, apps)


TELEGRAM_APPLICANT = 2  # prefers Telegram (the others leave no channel: WhatsApp first)
TELEGRAM_CHAT = "7000000002"


def _started_telegram(office: Office, booking_id: str | None) -> None:
    """As if the applicant had opened the booking's start link and pressed Start (Telegram's
    `/start <code>` to the office's webhook): at an office with a bot, their messages go to that
    chat; without one, to their phone."""
    from kanim.office import telegram

    if booking_id is None or not (office.settings.notify_telegram_bot and office.settings.notify_telegram_url):
        return
    with office.uow() as uow:
        telegram.link(uow, office.settings, code=telegram.start_code(office.settings, booking_id),
                      chat_id=TELEGRAM_CHAT)
        uow.commit()


def _seed_tickets(office: Office, apps: list) -> None:
    """A few complaints for the complaint desk (docs/tickets.md): a WhatsApp question, a hotline
    call and a report through SP4N-LAPOR!."""
    from kanim.domain.tickets import Source
    from kanim.office import tickets

    with office.uow() as uow:
        tickets.from_inbound(office, uow, channel="whatsapp", address="+6281234560001", at=uow.now(),
                             text=f"Selamat pagi, paspor saya {apps[1].number} kapan bisa diambil?")
        uow.commit()
    tickets.open_ticket(office, tickets.NewTicket(
        Source.HOTLINE, "Jadwal wawancara", "Penelepon menanyakan apakah wawancara bisa dipindah ke hari Jumat.",
        channel="sms", address="+6281234560002"), actor="front_desk")
    tickets.open_ticket(office, tickets.NewTicket(
        Source.LAPOR, "Antrean loket terlalu lama", "Laporan SP4N-LAPOR!: antrean pagi lebih dari dua jam.",
        lapor_ref="LPR-2026-120101"), actor="front_desk")


def _earlier(a: str, b: str) -> str:
    return a if ORDER.index(a) <= ORDER.index(b) else b


ORDER = ["booked", "checked_in", "intake_done", "paid", "captured", "interviewed", "approved",
         "printed", "ready", "handed_over"]


def advance(office: Office, app_id: str, target: str, *, app_type: ApplicationType, after: str = "booked") -> None:
    """Walk one application through the desks from `after` up to `target`, as the staff would."""
    steps = ORDER[ORDER.index(after) + 1:ORDER.index(target) + 1]
    for step in steps:
        _STEP[step](office, app_id, app_type)


def _check_in(office: Office, app_id: str, _t: ApplicationType) -> None:
    booking.check_in(office, application_id=app_id, actor="front_desk")


def _intake(office: Office, app_id: str, app_type: ApplicationType) -> None:
    kinds = [DocumentKind.KTP, DocumentKind.KK, DocumentKind.BIRTH_CERTIFICATE]
    if app_type is ApplicationType.RENEWAL:
        kinds.append(DocumentKind.OLD_PASSPORT)
    scan = face_photo()  # any JPEG stands in for a scan in the demo
    for k in kinds:
        intake.upload_document(office, application_id=app_id, kind=k.value, data=scan, actor="front_desk")
    intake.complete_intake(office, application_id=app_id, actor="front_desk")


def _pay(office: Office, app_id: str, _t: ApplicationType) -> None:
    app, _ = payment.issue_billing(office, application_id=app_id, actor="cashier")
    payment.record_payment(office, billing_code=app.billing_code, receipt_ref=f"BANK-{app.billing_code[-6:]}",
                           actor="cashier")


def _capture(office: Office, app_id: str, _t: ApplicationType) -> None:
    capture.upload_photo(office, application_id=app_id, data=face_photo(), actor="biometric_operator")
    finger = fingerprint_image()
    for pos in office.settings.fingerprint_positions:
        if pos == 10:
            capture.record_finger_exception(office, application_id=app_id, position=pos, exception="injured",
                                            actor="biometric_operator")
        else:
            capture.upload_fingerprint(office, application_id=app_id, position=pos, data=finger,
                                       actor="biometric_operator")
    capture.complete_capture(office, application_id=app_id, actor="biometric_operator")


def _interview(office: Office, app_id: str, _t: ApplicationType) -> None:
    adjudication.record_interview(office, application_id=app_id, notes="Purpose: tourism. Documents consistent.",
                                  actor="interviewer")


def _approve(office: Office, app_id: str, _t: ApplicationType) -> None:
    adjudication.approve(office, application_id=app_id, actor="supervisor")


def _print(office: Office, app_id: str, _t: ApplicationType) -> None:
    printing.print_passport(office, application_id=app_id, actor="print_operator")


def _ready(office: Office, app_id: str, _t: ApplicationType) -> None:
    printing.quality_check(office, application_id=app_id, passed=True, actor="print_operator")


def _hand_over(office: Office, app_id: str, _t: ApplicationType) -> None:
    if office.central is not None:  # the handover gate waits for the central's confirmations
        from kanim.link.relay import sync_once

        sync_once(office, office.central)
    with office.uow() as uow:
        app = uow.applications.get(app_id)
    handover_desk.hand_over(office, application_id=app_id, actor="pickup_desk", handover=holder_handover(app))


def holder_handover(app) -> Handover:  # noqa: ANN001 - an Application
    """The holder collects in person, showing their KTP (the one place the seed says so)."""
    return Handover(recipient_kind=RecipientKind.HOLDER, recipient_name=app.full_name, id_checked="KTP",
                    id_nik=app.nik)


_STEP = {"checked_in": _check_in, "intake_done": _intake, "paid": _pay, "captured": _capture,
         "interviewed": _interview, "approved": _approve, "printed": _print, "ready": _ready,
         "handed_over": _hand_over}
