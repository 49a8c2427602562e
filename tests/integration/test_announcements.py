"""Announcements to a set of applicants (kanim/office/announce.py, the console's page under
/staff/notifications/announce, `kanim notify announce`): the set by stage or pickup day, one
message per contact in each applicant's language, through the pipeline; a count before
anything is written; words an SMS cannot carry refused at the desk; supervisors only."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from kanim.cli import app
from kanim.domain.application import Stage
from kanim.domain.errors import InvalidInput
from kanim.domain.people import Sex
from kanim.notify.purposes import Purpose
from kanim.office import announce
from kanim.store import tables as t
from tests.console_desks import as_role, csrf, field_error, htmx, staff_office
from tests.integration.test_notify_flow import Recorder, book, messages, person, worker

TEXT_ID = "Sistem nasional sudah pulih; jadwal pengambilan paspor Anda kami kirim segera."
TEXT_EN = "The national system is back; your pickup slot follows shortly."


def printed_waiting(office):  # noqa: ANN001, ANN201
    """Two bookings waiting for the central (a family of two on one phone, in English; one on
    email), and a walk-in who left no contact."""
    family = book(office, language="en", applicants=[person(), person("Budi Santoso", "3171010508900002", Sex.M)])
    single = book(office, channel="email", phone=None, email="rina@example.co.id",
                  applicants=[person("Rina Marlina", "3174014508900011")])
    walk_in = book(office, channel=None, phone=None, email=None, applicants=[person("Agus Salim", "3273010508900005", Sex.M)])
    # Straight to the stage (the desks' walk there is tested elsewhere, and costs seconds here).
    with office.uow() as uow:
        uow.session.execute(update(t.application).values(stage=Stage.QC_PASSED))
        uow.commit()
    return family, single, walk_in


def test_one_message_per_contact_in_each_applicants_language_and_a_count_first(office) -> None:  # noqa: ANN001
    printed_waiting(office)
    worker(office).drain()  # the rules' own messages (booking, delay notice) out of the way
    before = len(messages(office))
    counted = announce.preview(office, announce.Selection(stage=Stage.QC_PASSED))
    assert (counted.applications, counted.recipients, counted.no_channel) == (4, 2, 1)
    assert counted.by_channel == {"whatsapp": 1, "email": 1} and len(messages(office)) == before, "nothing written"
    sent = announce.send(office, announce.Selection(stage=Stage.QC_PASSED), text_id=TEXT_ID, text_en=TEXT_EN,
                         actor="supervisor")
    mine = messages(office, purpose=Purpose.ANNOUNCEMENT.value)
    assert sent.written == 2 and len(mine) == 2
    by_channel = {m.channel: m for m in mine}
    assert by_channel["whatsapp"].params["notice_text"] == TEXT_EN, "the family booked in English"
    assert by_channel["email"].params["notice_text"] == TEXT_ID
    rec = Recorder()
    worker(office, rec).drain()
    assert sorted(m.state for m in messages(office, purpose=Purpose.ANNOUNCEMENT.value)) == ["sent", "sent"], \
        [(m.state, m.reason) for m in messages(office, purpose=Purpose.ANNOUNCEMENT.value)]
    [past] = announce.past(office)
    assert (past.recipients, past.no_channel, past.applications, past.created_by) == (2, 1, 4, "supervisor")
    assert past.selection == {"stage": "qc_passed", "pickup_on": None, "not_collected": False}


def test_words_an_sms_cannot_carry_are_refused_before_anything_is_written(sqlite_office) -> None:  # noqa: ANN001
    for text_id, code in (("", "announce-text-missing"), ("Kata " * 70, "announce-text-too-long"),
                          ("NIK Anda 3171014508900001 sudah dicek.", "announce-text-invalid")):
        with pytest.raises(InvalidInput) as caught:
            announce.send(sqlite_office, announce.Selection(stage=Stage.READY), text_id=text_id, text_en=TEXT_EN,
                          actor="supervisor")
        assert caught.value.code == code and caught.value.extra["field"] == "text_id"
    with pytest.raises(InvalidInput, match="stage, a pickup day"):
        announce.preview(sqlite_office, announce.Selection())
    with sqlite_office.uow(readonly=True) as uow:
        assert uow.session.execute(select(t.announcement)).first() is None


def test_a_supervisor_previews_and_sends_from_the_console_the_cli_counts_and_others_may_not(
        tmp_path, clock, monkeypatch) -> None:  # noqa: ANN001
    office = staff_office(tmp_path, clock, monkeypatch)
    printed_waiting(office)
    c = as_role(office, "supervisor")
    assert 'id="announce-form"' in c.get("/staff/notifications/announce").text
    token = csrf(c, "/staff/notifications/announce")
    form = {"stage": "qc_passed", "text_id": TEXT_ID, "text_en": TEXT_EN}
    r = c.post("/staff/notifications/announce/preview", data=form, headers=htmx(token, "announce-form", key="a-1"))
    assert r.status_code == 200 and 'data-recipients="2"' in r.text and 'id="announce-send-button"' in r.text
    assert "Yth. Bapak/Ibu Siti" in r.text and "Dear Daniel" in r.text
    assert not messages(office, purpose=Purpose.ANNOUNCEMENT.value), "a preview writes nothing"
    empty = c.post("/staff/notifications/announce/preview", data={**form, "text_en": ""},
                   headers=htmx(token, "announce-form", key="a-2"))
    assert empty.status_code == 422 and field_error(empty.text, "announce-form", "text_en")
    sent = c.post("/staff/notifications/announce", data=form, headers=htmx(token, "announce-send-form", key="a-3"))
    assert sent.status_code == 200 and 'data-written="2"' in sent.text and 'id="announce-past-list"' in sent.text
    desk = as_role(office, "front_desk")
    assert desk.get("/staff/notifications/announce").status_code == 403
    refused = desk.post("/staff/notifications/announce", data=form,
                        headers=htmx(csrf(desk, "/staff/"), "announce-send-form", key="a-4"))
    assert refused.status_code == 403 and len(messages(office, purpose=Purpose.ANNOUNCEMENT.value)) == 2

    runner, env = CliRunner(), {"KANIM_DATA_DIR": str(tmp_path / "data"), "KANIM_OFFICE_CODE": "MND"}
    args = ["notify", "announce", "--stage", "qc_passed", "--text-id", TEXT_ID, "--text-en", TEXT_EN]
    dry = runner.invoke(app, args, env=env)
    assert dry.exit_code == 0 and "2 message(s) to 4 application(s); 1 without" in dry.output and "Dry run" in dry.output
    assert len(messages(office, purpose=Purpose.ANNOUNCEMENT.value)) == 2, "a dry run writes nothing"
    done = runner.invoke(app, [*args, "--yes"], env=env)
    assert done.exit_code == 0 and "2 message(s) written" in done.output, done.output
    bad = runner.invoke(app, ["notify", "announce", "--stage", "printed_waiting", "--text-id", "x", "--text-en", "y"],
                        env=env)
    assert bad.exit_code == 2 and "unknown stage" in bad.output and len(bad.output.strip().splitlines()) == 1
    office.engine.dispose()
