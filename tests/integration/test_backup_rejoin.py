"""An office restored from a backup older than its last sync, against a real central over HTTP:
a number it hands out again is refused by the central (never two applications under one number),
and after `continue_numbers` its numbers continue after the highest the central holds."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from kanim.backup.keys import dedup_key, load_escrow, load_public
from kanim.backup.rejoin import continue_numbers
from kanim.backup.restore import restore
from kanim.backup.snapshot import create
from kanim.backup.targets import FolderTarget
from kanim.bootstrap import bootstrap
from kanim.central import tables as ct
from kanim.config import Settings
from kanim.link.http import HttpCentral
from kanim.link.relay import sync_once
from kanim.protocol.signing import load_or_create_key
from kanim.link.views import dead_letters
from kanim.office import booking
from tests.backup_helpers import add_applications, applicant, keys, private_of
from tests.integration.test_backup import T0
from tests.link_fixtures import central_server, connect, make_central


def registry_numbers(node) -> list[str]:  # noqa: ANN001
    with node.uow(readonly=True) as uow:
        return sorted(uow.session.execute(select(ct.registry_application.c.number)).scalars())


def test_a_restored_office_never_reuses_a_number_the_central_holds(sqlite_office, tmp_path, clock) -> None:  # noqa: ANN001
    office = sqlite_office
    node = make_central(tmp_path, clock=clock)
    with central_server(node) as url:
        connect(office, node, url)
        key, escrow = keys(office, tmp_path)
        target = FolderTarget(tmp_path / "usb")
        add_applications(office, 0, 2)
        sync_once(office, office.central)
        create(office.settings, [target], public=load_public(office.settings), dedup_key=dedup_key(office.settings),
               now=T0)
        add_applications(office, 10, 3)  # after the backup, acknowledged by the central
        sync_once(office, office.central)
        day = f"{clock.now():%Y%m%d}"
        assert registry_numbers(node) == [f"MND-{day}-{n:04d}" for n in range(1, 6)]
        unsigned = httpx.get(f"{url}/api/v1/link/numbers", timeout=5)
        assert unsigned.status_code == 401 and unsigned.headers["content-type"] == "application/problem+json"

        restore(target, private_of(key), load_escrow(escrow), tmp_path / "restored")
        settings = Settings(_env_file=None, data_dir=tmp_path / "restored", office_code="MND",
                            database_url=f"sqlite:///{tmp_path / 'restored' / 'kanim.db'}")
        again = bootstrap(settings, clock=clock, central=HttpCentral(
            url, office_code="MND", key=load_or_create_key(settings.office_key_path), timeout=5))
        try:
            reused = booking.walk_in(again, applicant=applicant(50), actor="frontdesk")
            assert reused.number == f"MND-{day}-0003"  # the backup's counter: the central holds it already
            sync_once(again, again.central)
            refused = dead_letters(again)
            assert len(refused) == 1 and "already held by another application" in refused[0]["error"], refused
            assert registry_numbers(node).count(f"MND-{day}-0003") == 1

            moved = continue_numbers(again, again.central.highest_numbers(), gap=10)
            assert moved == {clock.now().date(): (3, 15)}  # after the central's 5, and 10 lost work may hold
            fresh = booking.walk_in(again, applicant=applicant(51), actor="frontdesk")
            assert fresh.number == f"MND-{day}-0016"
            sync_once(again, again.central)
            assert f"MND-{day}-0016" in registry_numbers(node) and len(dead_letters(again)) == 1
            assert continue_numbers(again, again.central.highest_numbers(), gap=0) == {}  # never lowered
        finally:
            again.engine.dispose()
