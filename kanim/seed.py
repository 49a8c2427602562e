"""Demo data for `kanim demo`: one user per role, booklet stock, a watch-list snapshot, holidays,
and a day of appointments at every stage. Everything goes through the real use cases, so the
demo database looks exactly like one an office would have after a morning's work."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from kanim.bootstrap import Office, bootstrap
from kanim.config import Settings
from kanim.domain.application import Handover, Priority, RecipientKind
from kanim.domain.calendar import add_working_days, is_working_day
from kanim.domain.passport import ApplicationType, DocumentKind, PassportKind
from kanim.domain.people import Sex
from kanim.office import accounts, admin, adjudication, booking, capture, intake, payment, printing
from kanim.office import handover as handover_desk
from kanim.security.roles import Role
from kanim.store.migrate import upgrade

SEED_DATA = Path(__file__).parent / "seed_data"
MARKER = ".kanim-demo"  # only a folder carrying this marker is ever wiped by the demo
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
# How far each seeded application gets through the day.
STAGES = ["booked", "booked", "checked_in", "intake_done", "paid", "captured", "interviewed",
          "approved", "printed", "ready", "handed_over", "handed_over"]


@dataclass
class DemoUser:
    username: str
    role: str
    password: str


@dataclass
class DemoSummary:
    users: list[DemoUser] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)
    booklets: dict[str, int] = field(default_factory=dict)


def face_photo() -> bytes:
    """A public-domain face (NASA's portrait of Eileen Collins, scikit-image's `astronaut`),
    cropped and set on a plain white background like a passport photo."""
    return (SEED_DATA / "face.jpg").read_bytes()


def fingerprint_image() -> bytes:
    return (SEED_DATA / "finger.png").read_bytes()


def reset_data_dir(settings: Settings) -> None:
    d = settings.data_dir
    if d.exists() and (d / MARKER).exists():
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    (d / MARKER).write_text("created by `kanim demo`; wiped by the next demo run\n")


def seed_demo(settings: Settings) -> DemoSummary:
    reset_data_dir(settings)
    office = bootstrap(settings)
    upgrade(office.engine)
    summary = DemoSummary()
    for role in (r for r in Role if r is not Role.WATCHLIST):  # watchlist staff work at the central
        pw = f"demo-{role.value.replace('_', '-')}"
        pw = pw if len(pw) >= 10 else pw + "-kanim"
        accounts.add_user(office, username=role.value.replace("_", ""), full_name=f"Demo {role.value}",
                          role=role.value, password=pw, actor="seed")
        summary.users.append(DemoUser(role.value.replace("_", ""), role.value, pw))
    for day, name in HOLIDAYS_2026.items():
        admin.add_holiday(office, day=day, name=name, actor="seed")
    printing.receive_booklets(office, first="X1000001", last="X1000500", actor="seed")
    admin.load_watchlist_snapshot(
        office, taken_at=datetime.now(UTC) - timedelta(hours=6), source="demo central", actor="seed",
        orders=[admin.WatchlistOrder("nik", "3171010101800099", "prevention", "KPK", date(2026, 9, 1),
                                     date(2027, 2, 28), "demo prevention order")],
    )
    _seed_day(office)
    with office.uow() as uow:
        summary.stages = uow.applications.count_by_stage()
    r = printing.accountability(office)
    summary.booklets = {"received": r.received, "issued": r.issued, "spoiled": r.spoiled, "in_stock": r.in_stock}
    return summary


def _seed_day(office: Office) -> None:
    with office.uow() as uow:
        today = uow.now().date()
    day = today if is_working_day(today, frozenset(HOLIDAYS_2026)) else add_working_days(today, 1, frozenset(HOLIDAYS_2026))
    apps = []
    for i, (name, sex, born, nik) in enumerate(PEOPLE):
        a = booking.Applicant(full_name=name, nik=nik, birth_date=born, sex=sex,
                              app_type=ApplicationType.RENEWAL if i % 4 == 1 else ApplicationType.NEW,
                              passport_kind=PassportKind.ELECTRONIC if i % 3 == 0 else PassportKind.ORDINARY,
                              birth_place="Manado", kk_number=f"71710112{i:08d}",
                              priority=Priority.HAJJ_UMRAH if i == 5 else Priority.NONE)
        apps += booking.book(office, account_ref=f"demo-account-{i}", day=day,
                             slot=office.settings.slot_times[i % len(office.settings.slot_times)].strftime("%H:%M"),
                             applicants=[a], actor="frontdesk", contact_phone="+6281234567890")
    for app, target in zip(apps, STAGES, strict=True):
        advance(office, app.id, target, app_type=app.app_type)


ORDER = ["booked", "checked_in", "intake_done", "paid", "captured", "interviewed", "approved",
         "printed", "ready", "handed_over"]


def advance(office: Office, app_id: str, target: str, *, app_type: ApplicationType) -> None:
    """Walk one application through the desks up to `target`, as the staff would."""
    steps = ORDER[1:ORDER.index(target) + 1]
    for step in steps:
        _STEP[step](office, app_id, app_type)


def _check_in(office: Office, app_id: str, _t: ApplicationType) -> None:
    booking.check_in(office, application_id=app_id, actor="frontdesk")


def _intake(office: Office, app_id: str, app_type: ApplicationType) -> None:
    kinds = [DocumentKind.KTP, DocumentKind.KK, DocumentKind.BIRTH_CERTIFICATE]
    if app_type is ApplicationType.RENEWAL:
        kinds.append(DocumentKind.OLD_PASSPORT)
    scan = face_photo()  # any JPEG stands in for a scan in the demo
    for k in kinds:
        intake.upload_document(office, application_id=app_id, kind=k.value, data=scan, actor="frontdesk")
    intake.complete_intake(office, application_id=app_id, actor="frontdesk")


def _pay(office: Office, app_id: str, _t: ApplicationType) -> None:
    app, _ = payment.issue_billing(office, application_id=app_id, actor="cashier")
    payment.record_payment(office, billing_code=app.billing_code, receipt_ref=f"BANK-{app.billing_code[-6:]}",
                           actor="cashier")


def _capture(office: Office, app_id: str, _t: ApplicationType) -> None:
    capture.upload_photo(office, application_id=app_id, data=face_photo(), actor="biometricoperator")
    finger = fingerprint_image()
    for pos in office.settings.fingerprint_positions:
        if pos == 10:
            capture.record_finger_exception(office, application_id=app_id, position=pos, exception="injured",
                                            actor="biometricoperator")
        else:
            capture.upload_fingerprint(office, application_id=app_id, position=pos, data=finger,
                                       actor="biometricoperator")
    capture.complete_capture(office, application_id=app_id, actor="biometricoperator")


def _interview(office: Office, app_id: str, _t: ApplicationType) -> None:
    adjudication.record_interview(office, application_id=app_id, notes="Purpose: tourism. Documents consistent.",
                                  actor="interviewer")


def _approve(office: Office, app_id: str, _t: ApplicationType) -> None:
    adjudication.approve(office, application_id=app_id, actor="supervisor")


def _print(office: Office, app_id: str, _t: ApplicationType) -> None:
    printing.print_passport(office, application_id=app_id, actor="printoperator")


def _ready(office: Office, app_id: str, _t: ApplicationType) -> None:
    printing.quality_check(office, application_id=app_id, passed=True, actor="printoperator")


def _hand_over(office: Office, app_id: str, _t: ApplicationType) -> None:
    if office.central is not None:  # the handover gate waits for the central's confirmations
        from kanim.link.relay import sync_once

        sync_once(office, office.central)
    with office.uow() as uow:
        holder = uow.applications.get(app_id)
    handover_desk.hand_over(office, application_id=app_id, actor="pickupdesk", handover=Handover(
        recipient_kind=RecipientKind.HOLDER, recipient_name=holder.full_name, id_checked="KTP",
        id_nik=holder.nik))


_STEP = {"checked_in": _check_in, "intake_done": _intake, "paid": _pay, "captured": _capture,
         "interviewed": _interview, "approved": _approve, "printed": _print, "ready": _ready,
         "handed_over": _hand_over}
