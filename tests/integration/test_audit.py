"""The hash-chained audit log on a real database (SQLite, and PostgreSQL when set): tampering
with rows behind the application's back is detected, personal data never enters it, and
`kanim audit verify` says so with its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import JSON, bindparam, func, select, text

from kanim.bootstrap import Office, bootstrap
from kanim.config import Settings
from kanim.domain.application import Handover, RecipientKind, Stage
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.link.relay import sync_once
from kanim.office import admin, booking, handover, printing
from kanim.security.audit import row_hash, verify_chain
from kanim.seed import advance
from kanim.store import tables as t
from kanim.store.migrate import upgrade

MONDAY = date(2026, 11, 30)
SITI = booking.Applicant(full_name="Siti Rahmawati", nik="3171014508900001", birth_date=date(1990, 8, 5),
                         sex=Sex.F, app_type=ApplicationType.NEW, passport_kind=PassportKind.ELECTRONIC,
                         kk_number="7171011200000001")
BUDI = booking.Applicant(full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12),
                         sex=Sex.M, app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY,
                         kk_number="3578011200000002")
PHONE, EMAIL = "+6281234567890", "siti.rahmawati@example.id"


def book(office: Office, applicant: booking.Applicant = SITI):  # noqa: ANN201
    return booking.book(office, account_ref="acc-1", day=MONDAY, slot="08:00", applicants=[applicant],
                        actor="frontdesk", contact_phone=PHONE, contact_email=EMAIL)[0]


def some_history(office: Office) -> int:
    """A few audited actions; returns the number of audit rows."""
    a = book(office)
    book(office, BUDI)
    booking.check_in(office, application_id=a.id, actor="frontdesk")
    return audit_rows(office)


def audit_rows(office: Office) -> int:
    with office.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(t.audit_event)).scalar_one()


def problems(office: Office, **kw: int) -> list[str]:
    with office.uow() as uow:
        return verify_chain(uow.session, **kw).problems


def sql(office: Office, statement: str, **params: object) -> int:
    with office.engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


# -- the chain -------------------------------------------------------------------------------


def test_an_untouched_chain_verifies(office) -> None:  # noqa: ANN001
    n = some_history(office)
    assert n >= 4  # the watch-list snapshot of the fixture, two bookings, a check-in
    with office.uow() as uow:
        report = verify_chain(uow.session)
    assert report.ok and report.problems == [] and report.rows == n


def test_the_chain_verifies_across_batches(office) -> None:  # noqa: ANN001
    n = some_history(office)
    with office.uow() as uow:
        report = verify_chain(uow.session, batch=2)
    assert report.ok and report.rows == n


def test_an_edited_actor_is_detected_and_the_row_named(office) -> None:  # noqa: ANN001
    n = some_history(office)
    target = n // 2 + 1
    assert sql(office, "UPDATE audit_event SET actor = :a WHERE seq = :s", a="mallory", s=target) == 1
    found = problems(office)
    assert found == [f"row {target}: content does not match its hash (edited?)"]


def test_an_edited_detail_is_detected_and_the_row_named(office) -> None:  # noqa: ANN001
    n = some_history(office)
    with office.uow() as uow:
        row = uow.session.execute(select(t.audit_event).where(t.audit_event.c.action == "ApplicationBooked")
                                  .order_by(t.audit_event.c.seq)).first()
    assert row is not None and row.seq < n
    forged = {**row.detail, "passport_kind": "ordinary" if row.detail["passport_kind"] == "electronic" else "electronic"}
    with office.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET detail = :d WHERE seq = :s")
                     .bindparams(bindparam("d", type_=JSON)), {"d": forged, "s": row.seq})
    found = problems(office, batch=2)
    assert found == [f"row {row.seq}: content does not match its hash (edited?)"]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(office) -> None:  # noqa: ANN001
    n = some_history(office)
    target = n - 1
    with office.uow() as uow:
        row = uow.session.execute(select(t.audit_event).where(t.audit_event.c.seq == target)).one()
    forged_hash = row_hash(row.prev_hash, row.seq, row.at, "mallory", row.action, row.subject, row.detail)
    sql(office, "UPDATE audit_event SET actor = :a, hash = :h WHERE seq = :s", a="mallory", h=forged_hash, s=target)
    assert problems(office) == [f"row {target + 1}: link to the previous row is broken"]


def test_a_deleted_middle_row_is_detected(office) -> None:  # noqa: ANN001
    n = some_history(office)
    target = n // 2 + 1
    assert 1 < target < n
    assert sql(office, "DELETE FROM audit_event WHERE seq = :s", s=target) == 1
    found = problems(office)
    assert f"row {target}..{target} missing (deleted?)" in found
    assert f"row {target + 1}: link to the previous row is broken" in found
    assert len(found) == 2


def test_deleting_the_newest_row_is_detected_by_the_head(office) -> None:  # noqa: ANN001
    n = some_history(office)
    assert sql(office, "DELETE FROM audit_event WHERE seq = :s", s=n) == 1
    assert problems(office) == [f"the chain ends at row {n - 1} but the head says row {n} (rows deleted?)"]


def test_deleting_every_row_is_detected_by_the_head(office) -> None:  # noqa: ANN001
    n = some_history(office)
    sql(office, "DELETE FROM audit_event")
    assert problems(office) == [f"the chain ends at row 0 but the head says row {n} (rows deleted?)"]


def test_the_chain_keeps_growing_after_a_verification(office) -> None:  # noqa: ANN001
    n = some_history(office)
    assert problems(office) == []
    book(office, BUDI)
    assert audit_rows(office) == n + 1 and problems(office) == []


# -- redaction -------------------------------------------------------------------------------


def test_no_nik_name_or_contact_data_reaches_the_audit_log(office, clock, central) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")
    clock.advance(minutes=5)  # a newer snapshot that names Budi: his intake is rejected
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", actor="supervisor", orders=[
        admin.WatchlistOrder("nik", BUDI.nik, "prevention", "KPK", date(2026, 11, 1), date(2027, 4, 30), "case 12")])
    siti, budi = book(office), book(office, BUDI)
    advance(office, siti.id, "ready", app_type=siti.app_type)
    advance(office, budi.id, "intake_done", app_type=budi.app_type)
    with office.uow() as uow:
        assert uow.applications.get(budi.id).stage is Stage.REJECTED
    sync_once(office, central)  # the central's confirmations open the handover gate
    family = Handover(RecipientKind.FAMILY_SAME_KK, "Rahmat Hidayat", "KTP", id_nik="3171011506600003",
                      recipient_kk_number=SITI.kk_number)
    done = handover.hand_over(office, application_id=siti.id, handover=family, actor="pickup")
    assert done.stage is Stage.HANDED_OVER

    with office.uow() as uow:
        rows = uow.session.execute(select(t.audit_event).order_by(t.audit_event.c.seq)).all()
    actions = {r.action for r in rows}
    assert {"IntakeCompleted", "PaymentRecorded", "PassportPrinted", "PassportHandedOver", "ApplicationRejected",
            "WatchlistLoaded", "DocumentScanned", "BiometricCaptured"} <= actions
    secrets = [SITI.nik, BUDI.nik, SITI.full_name, BUDI.full_name, "Rahmawati", "Santoso", SITI.kk_number,
               BUDI.kk_number, "1990-08-05", "1985-03-12", "Rahmat Hidayat", "3171011506600003", PHONE, EMAIL]
    for r in rows:
        text_of_row = json.dumps([r.actor, r.action, r.subject, r.detail], default=str)
        leaked = [s for s in secrets if s in text_of_row]
        assert leaked == [], f"audit row {r.seq} ({r.action}) holds {leaked}"
    intake = next(r for r in rows if r.action == "IntakeCompleted")
    assert "documents" in intake.detail and "nik" not in intake.detail and "full_name" not in intake.detail
    assert problems(office) == []


# -- `kanim audit verify`, a real process ------------------------------------------------------


def prepared_data_dir(tmp_path: Path, clock) -> tuple[Settings, Office, int]:  # noqa: ANN001
    settings = Settings(data_dir=tmp_path / "data")
    office = bootstrap(settings, clock=clock)
    upgrade(office.engine)
    n = some_history(office)
    return settings, office, n


def run_verify(tmp_path: Path, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_") and k not in ("COLUMNS", "LINES")}
    env["KANIM_DATA_DIR"] = str(settings.data_dir)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from kanim.cli import app; app()", "audit", "verify"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_cli_says_intact_and_exits_0_on_an_untouched_chain(tmp_path, clock) -> None:  # noqa: ANN001
    settings, office, n = prepared_data_dir(tmp_path, clock)
    office.engine.dispose()
    done = run_verify(tmp_path, settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"audit chain intact: {n} rows"
    assert done.stderr == ""


def test_the_cli_names_the_edited_row_and_exits_1(tmp_path, clock) -> None:  # noqa: ANN001
    settings, office, n = prepared_data_dir(tmp_path, clock)
    target = n // 2 + 1
    sql(office, "UPDATE audit_event SET actor = 'mallory' WHERE seq = :s", s=target)
    office.engine.dispose()
    done = run_verify(tmp_path, settings)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"audit chain broken: row {target}: content does not match its hash (edited?)"]
    assert "intact" not in done.stdout


def test_the_cli_reports_a_deleted_middle_row_one_line_per_problem(tmp_path, clock) -> None:  # noqa: ANN001
    settings, office, n = prepared_data_dir(tmp_path, clock)
    target = n // 2 + 1
    sql(office, "DELETE FROM audit_event WHERE seq = :s", s=target)
    office.engine.dispose()
    done = run_verify(tmp_path, settings)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"audit chain broken: row {target}..{target} missing (deleted?)",
                                        f"audit chain broken: row {target + 1}: link to the previous row is broken"]


def test_the_cli_reports_a_deleted_newest_row_on_one_line(tmp_path, clock) -> None:  # noqa: ANN001
    settings, office, n = prepared_data_dir(tmp_path, clock)
    sql(office, "DELETE FROM audit_event WHERE seq = :s", s=n)
    office.engine.dispose()
    done = run_verify(tmp_path, settings)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"audit chain broken: the chain ends at row {n - 1} but the head says row {n} (rows deleted?)"]
