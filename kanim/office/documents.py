"""Documents the office gives out: the applicant's receipt (PDF with a QR code) and the
data-page preview (PNG) shown to the print operator before a booklet is used."""

from __future__ import annotations

from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.domain.errors import Conflict, NotFound
from kanim.office.capture import FACE, read_biometric
from kanim.office import telegram
from kanim.office.track import receipt_qr
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

# kanim.render (fpdf, Pillow's fonts) is imported where a document is drawn, not with this
# module: it costs half a second that every `kanim` process would otherwise pay at start,
# a CLI command or a server that never prints anything included.


def receipt_pdf(office: Office, *, application_id: str) -> bytes:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        now = uow.now()
        link = _telegram_link(office, uow, app.booking_id)  # asked for Telegram, bot not started yet
    lines = [
        ("Nomor permohonan / Application no.", app.number),
        ("Jenis / Type", f"{app.app_type.value} — {app.passport_kind.value}"),
        ("Jadwal / Appointment", app.appointment_on.isoformat() if app.appointment_on else "-"),
        ("Antrean / Queue ticket", app.queue_ticket or "-"),
        ("Kode billing / Billing code", app.billing_code or "-"),
        ("Biaya / Fee", f"Rp{app.fee_total:,}".replace(",", ".") if app.fee_total else "-"),
        ("Perkiraan selesai / Ready by", app.ready_by.isoformat() if app.ready_by else "-"),
    ]
    from kanim.render.receipt import render_receipt_pdf

    return render_receipt_pdf(application_number=app.number, office_name=office.settings.office_name,
                              applicant_name=app.full_name, lines=lines,
                              qr_payload=receipt_qr(office.settings, app.number), issued_at=now,
                              timezone=office.settings.timezone, telegram_url=link)


def _telegram_link(office: Office, uow: UnitOfWork, booking_id: str | None) -> str | None:
    if booking_id is None:
        return None
    b = t.booking.c
    row = uow.session.execute(select(b.preferred_channel, b.contact_telegram).where(b.id == booking_id)).one_or_none()
    if row is None or row.contact_telegram:
        return None
    return telegram.start_url(office.settings, booking_id, row.preferred_channel)


def data_page_preview(office: Office, *, application_id: str, actor: str) -> bytes:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
    if not (app.mrz_line1 and app.mrz_line2):
        raise Conflict(f"application {app.number} has not been printed", code="not-printed")
    try:
        photo = read_biometric(office, application_id=app.id, kind=FACE, position=0, actor=actor,
                               purpose="data page preview")
    except NotFound:
        photo = None
    fields = {
        "Type / Jenis": "P",
        "Code / Kode": "IDN",
        "Passport No. / No. Paspor": app.booklet_serial or "",
        "Name / Nama": app.full_name.upper(),
        "Nationality / Kewarganegaraan": "INDONESIA",
        "Date of birth / Tgl. lahir": app.birth_date.strftime("%d %b %Y").upper(),
        "Sex / Jenis kelamin": app.sex.value,
        "Place of birth / Tempat lahir": app.birth_place.upper(),
        "Date of issue / Tgl. pengeluaran": app.issued_on.strftime("%d %b %Y").upper() if app.issued_on else "",
        "Date of expiry / Tgl. habis berlaku": app.expires_on.strftime("%d %b %Y").upper() if app.expires_on else "",
        "Issuing office / Kantor": office.settings.office_name.upper(),
    }
    from kanim.render.datapage import render_data_page_png

    return render_data_page_png(photo_jpeg=photo, fields=fields, mrz_lines=(app.mrz_line1, app.mrz_line2))
