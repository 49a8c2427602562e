"""An office rebuilt from the central, against a real central over HTTP: what the office sent
comes back — applications at their stage, clearances, payments, prints, booklets, the capture
images into its vault — whether the office restored a backup first or lost everything."""

from __future__ import annotations

import shutil
from datetime import date

import httpx
import pytest
from sqlalchemy import select

from kanim.backup.keys import dedup_key, load_escrow, load_public
from kanim.backup.rebuild import RebuildError, rebuild
from kanim.backup.replay import NO_IDENTITY
from kanim.backup.restore import restore
from kanim.backup.snapshot import create
from kanim.backup.targets import FolderTarget
from kanim.bootstrap import bootstrap
from kanim.central import service
from kanim.config import Settings
from kanim.domain.passport import ApplicationType
from kanim.link.http import HttpCentral
from kanim.link.relay import sync_once
from kanim.office import adjudication, booking, printing
from kanim.protocol.signing import load_or_create_key
from kanim.protocol.wire import Operation
from kanim.security.audit import verify_chain
from kanim.seed import advance
from kanim.store import tables as t
from tests.backup_helpers import add_applications, applicant, keys, private_of
from tests.conftest import make_office
from tests.integration.test_backup import T0
from kanim.ops.cluster import free_port
from tests.link_fixtures import central_server, connect, make_central

# What never leaves the office, and so cannot come back from the central (kanim/backup/replay.py).
LOCAL_ONLY = {"booking_id", "interview_notes", "handover", "version"}


def applications(office) -> dict[str, dict]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return {r.id: {k: v for k, v in r._mapping.items() if k not in LOCAL_ONLY}
                for r in uow.session.execute(select(t.application))}


def stage_of(office, app_id: str) -> str:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.applications.get(app_id).stage.value


def differences(got: dict[str, dict], want: dict[str, dict]) -> dict[str, dict]:
    """Per application, the columns that differ: (rebuilt, original)."""
    assert set(got) == set(want)
    diff = {a: {k: (got[a].get(k), v) for k, v in want[a].items() if got[a].get(k) != v} for a in want}
    return {a: d for a, d in diff.items() if d}


def images(office) -> dict[tuple[str, int], tuple]:  # noqa: ANN001
    """Each capture: its image (decrypted) or its exception, and its size as the desk measured it."""
    b = t.biometric.c
    with office.uow(readonly=True) as uow:
        rows = uow.session.execute(select(b.application_id, b.position, b.file_ref, b.exception, b.width,
                                          b.height)).all()
    return {(r.application_id, r.position): (office.vault.get(r.file_ref) if r.file_ref else r.exception,
                                             r.width, r.height) for r in rows}


def sent_rows(office) -> set[tuple]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return {tuple(r) for r in uow.session.execute(select(t.outbox.c.id, t.outbox.c.seq, t.outbox.c.op)
                                                      .where(t.outbox.c.status == "sent"))}


def table(office, tbl, *cols) -> set[tuple]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return {tuple(r) for r in uow.session.execute(select(*(tbl.c[c] for c in cols)))}


def stock(office, node) -> None:  # noqa: ANN001
    """Booklets the central allocated to the office, received at its print room."""
    service.allocate_booklets(node, office_code="MND", first="X1000001", last="X1000010", actor="t")
    sync_once(office, office.central)
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")


def civil_registry(node, tmp_path, people: range) -> None:  # noqa: ANN001
    """The civil registry knows these applicants: their NIKs verify at the central."""
    path = tmp_path / "dukcapil.csv"
    lines = ["nik,full_name,birth_date,sex,kk_number"] + [
        f"{a.nik},{a.full_name},{a.birth_date.isoformat()},{a.sex.value},{a.kk_number}" for a in map(applicant, people)]
    path.write_text("\n".join(lines) + "\n")
    service.load_civil_registry(node, path)


def work(office, first: int) -> list[str]:  # noqa: ANN001
    """Applications at several stages: walk-ins printed, captured and through intake, and one
    booked online that has not come in yet."""
    ids = []
    for n, stage in enumerate(("printed", "captured", "intake_done")):
        app = booking.walk_in(office, applicant=applicant(first + n), actor="frontdesk")
        advance(office, app.id, stage, app_type=ApplicationType.NEW, after="checked_in")
        ids.append(app.id)
    booked = booking.book(office, account_ref="acc-1", day=date(2026, 12, 3), slot="08:00",
                          applicants=[applicant(first + 3)], actor="online")[0]
    return [*ids, booked.id]


def test_an_office_that_lost_everything_gets_back_what_it_sent(office, backend, tmp_path, clock) -> None:  # noqa: ANN001
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        stock(office, node)
        ids = work(office, 0)
        sync_once(office, office.central)  # the central flags every NIK: its civil registry is empty
        # The central lifts one flag; the supervisor releases that hold: the rebuilt office must
        # not be held again by the flag it reads again in the feed.
        service.lift_flag(node, application_id=ids[1], kind="nik_verified", reason="KTP seen", actor="t")
        sync_once(office, office.central)
        adjudication.release_hold(office, application_id=ids[1], actor="supervisor")
        sync_once(office, office.central)
        sync_once(office, office.central)  # the office reads the feed again: the central sees how far it read
        assert stage_of(office, ids[1]) == "captured"

        # A new machine: empty database and vault, the office's escrowed signing key.
        fresh, cleanup = make_office(tmp_path / "new", backend, clock, None)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            fresh.settings.central_public_key = office.settings.central_public_key
            fresh.central = HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path),
                                        timeout=10)
            got = rebuild(fresh, fresh.central, page=7)  # pages smaller than the history: every page boundary

            assert got.skipped == [] and got.not_kept == 0 and got.renumbered == 0
            assert differences(applications(fresh), applications(office)) == {}
            assert stage_of(fresh, ids[1]) == "captured"
            assert images(fresh) == images(office) and got.images == 10 * 2  # face + 9 fingers, two captures
            assert table(fresh, t.booklet, "serial", "status", "application_id") == table(
                office, t.booklet, "serial", "status", "application_id")
            assert got.decisions > 0  # its allocations, from the central's feed
            sent = sent_rows(office)
            assert sent_rows(fresh) == sent
            with fresh.uow(readonly=True) as uow:
                assert verify_chain(uow.session).ok

            again = rebuild(fresh, fresh.central)
            assert (again.operations, again.applications, again.images) == (0, 0, 0)  # nothing twice
            # Work goes on after the history: the next event takes the next sequence number.
            later = booking.walk_in(fresh, applicant=applicant(40), actor="frontdesk")
            with fresh.uow(readonly=True) as uow:
                seq = uow.session.execute(select(t.outbox.c.seq).where(t.outbox.c.subject == later.id)).scalar()
            assert seq > max(s for _, s, _ in sent)
        finally:
            fresh.engine.dispose()
            cleanup()
        # The central's reads of the images are audited there, one row per application.
        with node.uow(readonly=True) as uow:
            reads = uow.session.execute(select(t.audit_event.c.detail).where(
                t.audit_event.c.action == "BiometricRead")).scalars().all()
        assert len([d for d in reads if d.get("purpose") == "office rebuild"]) >= 2


def test_a_restored_office_gets_back_what_the_central_acknowledged_after_its_backup(
        sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        civil_registry(node, tmp_path, range(20))
        key, escrow = keys(office, tmp_path)
        target = FolderTarget(tmp_path / "usb")
        stock(office, node)
        before = add_applications(office, 0, 2)
        advance(office, before[0], "interviewed", app_type=ApplicationType.NEW, after="checked_in")
        sync_once(office, office.central)
        create(office.settings, [target], public=load_public(office.settings), dedup_key=dedup_key(office.settings),
               now=T0)
        # After the backup, acknowledged by the central: new applications, and one from before
        # the backup taken on to print.
        work(office, 10)
        advance(office, before[0], "printed", app_type=ApplicationType.NEW, after="interviewed")
        sync_once(office, office.central)
        unsigned = httpx.get(f"{url}/api/v1/link/history", timeout=5)
        assert unsigned.status_code == 401 and unsigned.headers["content-type"] == "application/problem+json"

        restore(target, private_of(key), load_escrow(escrow), tmp_path / "restored")
        settings = Settings(_env_file=None, data_dir=tmp_path / "restored", office_code="MND", chip_required=False,
                            database_url=f"sqlite:///{tmp_path / 'restored' / 'kanim.db'}",
                            central_public_key=office.settings.central_public_key)
        again = bootstrap(settings, clock=clock, central=HttpCentral(
            url, office_code="MND", key=load_or_create_key(settings.office_key_path), timeout=5))
        try:
            assert len(applications(again)) == 2  # what the backup held
            got = rebuild(again, again.central)
            assert got.skipped == []
            assert differences(applications(again), applications(office)) == {}
            assert images(again) == images(office)
            assert table(again, t.booklet, "serial", "status", "application_id") == table(
                office, t.booklet, "serial", "status", "application_id")
            # Scans never leave the office: those taken after the backup are not back.
            assert table(again, t.document_scan, "id") < table(office, t.document_scan, "id")
            sync_once(again, again.central)  # what the backup held as pending is answered as before
            with again.uow(readonly=True) as uow:
                assert set(uow.session.execute(select(t.outbox.c.status)).scalars()) == {"sent"}
                assert verify_chain(uow.session).ok
        finally:
            again.engine.dispose()


@pytest.mark.parametrize("identity", [True, False])
def test_an_application_the_central_knows_without_its_applicant_is_skipped_with_its_reason(identity) -> None:
    from kanim.backup.replay import fold

    booked = {"id": "op1", "seq": 1, "subject": "a1", "op": "ApplicationBooked", "payload": {
        "subject": "a1", "at": "2026-12-01T01:00:00+00:00", "actor": "fd", "number": "MND-20261201-0001",
        "app_type": "new", "passport_kind": "ordinary",
        **({"full_name": "Siti", "nik": "3171014508900001", "birth_date": "1990-08-05", "sex": "F"} if identity else {})}}
    folded = fold([booked], {}, office_code="MND")
    assert (folded.changed == {"a1"}) is identity
    assert folded.skipped == ([] if identity else [("a1", NO_IDENTITY)])


def test_an_it_officer_rebuilds_a_new_node_from_the_central_with_the_cli(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    """Every backup lost: a new folder, the escrow sheet, three commands, as the runbook says."""
    import os
    import subprocess
    import sys

    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        civil_registry(node, tmp_path, range(10))
        stock(office, node)
        work(office, 0)
        sync_once(office, office.central)
        _, escrow = keys(office, tmp_path)

        new = tmp_path / "new-node"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
        env.update(KANIM_DATA_DIR=str(new), KANIM_OFFICE_CODE="MND", KANIM_CENTRAL_URL=url,
                   KANIM_CENTRAL_PUBLIC_KEY=office.settings.central_public_key, KANIM_CHIP_REQUIRED="false")

        def kanim(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "kanim", *args], env=env, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=120)

        installed = kanim("backup", "install-keys", "--escrow", str(escrow))
        assert installed.returncode == 0, installed.stderr
        assert "office_ed25519.pem" in installed.stdout
        again = kanim("backup", "install-keys", "--escrow", str(escrow))  # never over a key
        assert again.returncode != 0 and "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
        assert kanim("db", "upgrade").returncode == 0
        for command in (["serve", "--port", str(free_port())], ["worker"]):  # neither desks nor relay yet
            early = kanim(*command)
            assert early.returncode == 2 and "has not rejoined the central" in early.stderr, early.stderr
        rejoined = kanim("backup", "rejoin")
        assert rejoined.returncode == 0, rejoined.stderr
        assert "4 applications" in rejoined.stdout and "not rebuilt" not in rejoined.stdout, rejoined.stdout
        assert not (new / "rejoin-needed.json").exists()  # it may serve now

        rebuilt = bootstrap(Settings(_env_file=None, data_dir=new, office_code="MND", chip_required=False),
                            clock=clock)
        try:
            # The commands run on the real clock, the office's work on the tests' fake one: the
            # central's decisions, read again from its feed, are applied at the real time.
            assert {a: d for a, d in differences(applications(rebuilt), applications(office)).items()
                    if set(d) != {"updated_at"}} == {}
            assert images(rebuilt) == images(office)  # decrypted with the escrowed vault key
        finally:
            rebuilt.engine.dispose()


def booked(app_id: str, seq: int, n: int) -> Operation:
    return Operation(f"op-{app_id}", seq, app_id, "ApplicationBooked", {
        "subject": app_id, "at": "2026-11-30T01:00:00+00:00", "actor": "frontdesk", "number": f"MND-20261130-{n:04d}",
        "app_type": "new", "passport_kind": "ordinary", "full_name": f"Siti {n}", "nik": f"31710145089{n:05d}",
        "birth_date": "1990-08-05", "sex": "F"}, "MND")


def test_two_operations_sent_under_one_sequence_number_both_come_back(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    """An office restored before rejoins existed sent new work under sequence numbers it had
    used before: the central holds both, and neither is lost at a page's edge."""
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        results = office.central.push([booked("app-a", 7, 1), booked("app-b", 7, 2), booked("app-c", 8, 3)])
        assert all(r.ok for r in results), results
        fresh, cleanup = make_office(tmp_path / "new", "sqlite", clock, None, central_public_key=office.settings.central_public_key)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            central = HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path))
            got = rebuild(fresh, central, page=1)
            assert set(applications(fresh)) == {"app-a", "app-b", "app-c"} and got.renumbered == 1
            seqs = {i: s for i, s, _ in sent_rows(fresh)}
            assert seqs["op-app-a"] == 7 and seqs["op-app-c"] == 8 and seqs["op-app-b"] > 8
        finally:
            fresh.engine.dispose()
            cleanup()


class Tampered:
    """The central's answers, altered on the way (a proxy, a man in the middle)."""

    def __init__(self, central: HttpCentral, change) -> None:  # noqa: ANN001
        self.central, self.change = central, change

    def history(self, **kw):  # noqa: ANN003, ANN201
        doc = self.central.history(**kw)
        self.change(doc)
        return doc


@pytest.mark.parametrize("change", [
    lambda d: d["operations"][0]["payload"].update(full_name="Someone Else"),
    lambda d: d.update(office="JKT"),
    lambda d: d.update(signature=d["signature"][::-1]),
], ids=["a payload", "the office", "the signature"])
def test_a_history_nobody_can_vouch_for_writes_nothing(sqlite_office, tmp_path, clock, change) -> None:  # noqa: ANN001
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        stock(office, node)
        work(office, 0)
        sync_once(office, office.central)
        fresh, cleanup = make_office(tmp_path / "new", "sqlite", clock, None, central_public_key=office.settings.central_public_key)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            central = HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path))
            with pytest.raises(RebuildError, match="nothing was written"):
                rebuild(fresh, Tampered(central, change))
            assert applications(fresh) == {} and sent_rows(fresh) == set() and images(fresh) == {}
        finally:
            fresh.engine.dispose()
            cleanup()


def test_an_older_offices_booking_waits_for_its_intake_on_a_later_page(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    """Before offices sent the applicant with the booking, only the intake named them: an
    application whose intake comes a page later is rebuilt whole, not skipped."""
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        old = booked("app-old", 1, 1)
        for k in ("full_name", "nik", "birth_date", "sex"):
            del old.payload[k]
        intake = Operation("op-intake", 3, "app-old", "IntakeCompleted", {
            "subject": "app-old", "at": "2026-11-30T01:05:00+00:00", "actor": "frontdesk", "nik": "3171014508900001",
            "full_name": "Siti Lama", "birth_date": "1990-08-05", "sex": "F"}, "MND")
        results = office.central.push([old, booked("app-new", 2, 2), intake])
        assert [r.ok for r in results] == [True, True, True], results
        fresh, cleanup = make_office(tmp_path / "new", "sqlite", clock, None, central_public_key=office.settings.central_public_key)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            central = HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path))
            got = rebuild(fresh, central, page=1)
            rows = applications(fresh)
            assert got.skipped == [] and rows["app-old"]["full_name"] == "Siti Lama"
            # Through intake (then held: the central's registry does not know the NIK, and its
            # decision came through the feed after the history).
            assert (rows["app-old"]["held_from"] or rows["app-old"]["stage"]).value == "intake_done"
            assert rows["app-old"]["nik"] == "3171014508900001" and set(rows) == {"app-old", "app-new"}
            assert {i for i, _, _ in sent_rows(fresh)} == {"op-app-old", "op-app-new", "op-intake"}
        finally:
            fresh.engine.dispose()
            cleanup()


class Replayed:
    """Every request answered with the first answer it recorded (a page played back)."""

    def __init__(self, central: HttpCentral) -> None:
        self.central, self.first = central, None

    def history(self, **kw):  # noqa: ANN003, ANN201
        self.first = self.first or self.central.history(**kw)
        return self.first


def test_a_page_played_back_to_a_later_request_writes_nothing(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        booking.walk_in(office, applicant=applicant(0), actor="frontdesk")
        sync_once(office, office.central)
        fresh, cleanup = make_office(tmp_path / "new", "sqlite", clock, None, central_public_key=office.settings.central_public_key)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            central = Replayed(HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path)))
            central.first = central.central.history(after=0, after_id="", limit=500, challenge="recorded-earlier")
            with pytest.raises(RebuildError, match="an earlier request"):
                rebuild(fresh, central)
            assert applications(fresh) == {} and sent_rows(fresh) == set()
        finally:
            fresh.engine.dispose()
            cleanup()


def test_a_decision_whose_effect_never_reached_the_central_is_applied_again(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    """The office applied the central's flag and read on (the central saw its cursor move), but
    was lost before it sent what the flag did: the rebuilt office is held as the lost one was."""
    from kanim.link.relay import Relay

    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        app = booking.walk_in(office, applicant=applicant(0), actor="frontdesk")
        advance(office, app.id, "intake_done", app_type=ApplicationType.NEW, after="checked_in")
        sync_once(office, office.central)  # pushed; the central flags the NIK; the flag is applied here
        relay = Relay(office, office.central)
        relay.pull_round()  # the office reads on; what the flag did is still in its outbox
        relay.close()
        assert stage_of(office, app.id) == "on_hold"
        fresh, cleanup = make_office(tmp_path / "new", "sqlite", clock, None, central_public_key=office.settings.central_public_key)
        try:
            shutil.copy2(office.settings.office_key_path, fresh.settings.office_key_path)
            got = rebuild(fresh, HttpCentral(url, office_code="MND", key=load_or_create_key(fresh.settings.office_key_path)))
            assert got.decisions >= 1
            assert stage_of(fresh, app.id) == "on_hold"
            assert applications(fresh)[app.id]["nik_verified"].value == "flagged"
        finally:
            fresh.engine.dispose()
            cleanup()
