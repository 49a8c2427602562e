"""The booking desk's input rules on a real database: what is stored is the normalised form, and
a refusal writes nothing (no booking, no application, no outbox or audit row)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select, update

from kanim.domain.errors import InvalidInput
from kanim.office import booking, printing
from kanim.seed import advance
from kanim.store import tables as t
from tests.integration.test_workflow import SITI, count

MONDAY = date(2026, 11, 30)  # the fake clock's day


def _book(office, applicant=SITI, **contact):  # noqa: ANN001, ANN003, ANN202
    return booking.book(office, account_ref="acc-1", day=MONDAY, slot="08:00", applicants=[applicant],
                        actor="frontdesk", **contact)


def _rows(office) -> dict[str, int]:  # noqa: ANN001
    """Rows of every table a booking writes (the fixture's watch-list snapshot wrote some audit)."""
    return {table.name: count(office, table) for table in (t.booking, t.application, t.outbox, t.audit_event)}


def test_a_booked_phone_number_is_stored_in_e164_with_its_channel(office) -> None:  # noqa: ANN001
    app = _book(office, contact_phone="0812-3456-7890", contact_email="Siti@Example.CO.ID",
                preferred_channel="whatsapp")[0]
    with office.uow() as uow:
        row = uow.session.execute(select(t.booking).where(t.booking.c.id == app.booking_id)).one()
    assert (row.contact_phone, row.contact_email, row.preferred_channel) == \
        ("+6281234567890", "Siti@example.co.id", "whatsapp")


@pytest.mark.parametrize(("contact", "code"), [
    ({"contact_phone": "abc"}, "contact-phone"),
    ({"contact_email": "not-an-email"}, "contact-email"),
    ({"contact_phone": "0812 3456 7890", "preferred_channel": "pigeon"}, "contact-channel"),
    ({"contact_email": "siti@example.co.id", "preferred_channel": "sms"}, "contact-missing"),
])
def test_a_booking_with_bad_contact_data_writes_nothing(office, contact, code) -> None:  # noqa: ANN001
    before = _rows(office)
    with pytest.raises(InvalidInput) as e:
        _book(office, **contact)
    assert e.value.code == code
    assert _rows(office) == before


def test_a_birth_date_after_the_office_clocks_today_is_refused(office) -> None:  # noqa: ANN001
    """The office's clock, not the server's: the fake clock says 30 November 2026."""
    tomorrow = replace(SITI, birth_date=date(2026, 12, 1), nik="3171014112260001")
    before = _rows(office)
    with pytest.raises(InvalidInput) as e:
        _book(office, tomorrow)
    assert e.value.code == "birth-date-future"
    assert _rows(office) == before


def test_the_stored_name_and_birth_place_are_the_normalised_ones(office) -> None:  # noqa: ANN001
    app = _book(office, replace(SITI, full_name=" Siti\u00a0 Rahmawati ", birth_place="Tanjung   Pinang"))[0]
    with office.uow() as uow:
        stored = uow.applications.get(app.id)
    assert (stored.full_name, stored.birth_place) == ("Siti Rahmawati", "Tanjung Pinang")


def test_a_walk_in_with_a_bidi_override_in_the_name_writes_nothing(office) -> None:  # noqa: ANN001
    before = _rows(office)
    with pytest.raises(InvalidInput) as e:
        booking.walk_in(office, applicant=replace(SITI, full_name="Siti \u202eitawhamaR"), actor="frontdesk")
    assert e.value.code == "name-character"
    assert _rows(office) == before


def test_a_name_stored_before_the_rule_with_a_bidi_override_is_not_printed(office) -> None:  # noqa: ANN001
    """A row written before the rule existed: the printer refuses it rather than print a data
    page that reads one name and an MRZ that reads another."""
    printing.receive_booklets(office, first="X1000001", last="X1000002", actor="printer")
    app = _book(office)[0]
    advance(office, app.id, "approved", app_type=app.app_type)
    with office.uow() as uow:
        uow.session.execute(update(t.application).where(t.application.c.id == app.id)
                            .values(full_name="LIVE NAME\u202eEVIL"))
        uow.session.commit()
    before = printing.accountability(office)
    with pytest.raises(InvalidInput) as e:
        printing.print_passport(office, application_id=app.id, actor="printer")
    assert e.value.code == "name-character"
    assert printing.accountability(office) == before
    with office.uow() as uow:
        assert uow.applications.get(app.id).booklet_serial is None
