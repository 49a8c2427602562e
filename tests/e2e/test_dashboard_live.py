"""The recovery dashboard live: a central and an office as real processes (kanim.ops.cluster,
as `kanim demo` runs them) and the dashboard open in a real Chromium, which polls its live region
every second as a supervisor's browser does. The central is killed: the page says the link is no
longer up within 2 s, and down soon after; work made meanwhile shows queued; the central starts
again: the page shows the queue draining to nothing and the link up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kanim.ops.cluster import CentralSpec, OfficeSpec, free_port, provision
from tests.e2e.desks import person

pytestmark = pytest.mark.timeout(180)
PASSWORD = "dashboard-live-password"


class Cluster:
    def __init__(self, root: Path) -> None:
        self.central = CentralSpec(root / "central", free_port())
        self.office = OfficeSpec("MND", root / "office", free_port(), self.central.url)
        provision(self.central, [self.office], booklets_per_office=10, staff_password=PASSWORD)
        self.central_proc = self.central.process().start()
        self.office_proc = self.office.process().start()

    def stop(self) -> None:
        for node in (self.office_proc, self.central_proc):
            node.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


def api(url: str, role: str) -> httpx.Client:
    r = httpx.post(f"{url}/api/v1/auth/token", json={"username": role, "password": PASSWORD}, timeout=30)
    return httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {r.json()['access_token']}"},
                        timeout=30)


def reading(page) -> tuple[str, int]:  # noqa: ANN001
    """The link's state and the queue's depth, as the page in the browser shows them now."""
    state = page.get_attribute("#link-state", "data-state")
    return state, int(page.get_attribute("#queue-depth", "data-value"))


def until(what: str, probe, timeout: float, every: float = 0.1):  # noqa: ANN001, ANN201
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if (value := probe()) is not None:
            return value, time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout} s")


@pytest.fixture
def dashboard(cluster) -> Iterator[object]:  # noqa: ANN001
    """The dashboard open in Chromium, logged in as a supervisor through the login form."""
    from tests.e2e.browser import DESK_SCREEN, FLAGS, log_in, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        try:
            page = log_in(browser.new_context(viewport=DESK_SCREEN), cluster.office.url, "supervisor", PASSWORD)
            page.goto(f"{cluster.office.url}/staff/dashboard")
            yield page
        finally:
            browser.close()


def test_the_dashboard_shows_the_link_down_and_the_backlog_draining_when_the_central_returns(cluster,  # noqa: ANN001
                                                                                             dashboard) -> None:
    from tests.e2e.browser import screenshot

    page = dashboard
    front_desk = api(cluster.office.url, "front_desk")
    until("link up", lambda: True if reading(page) == ("up", 0) else None, 20)

    killed = time.monotonic()
    cluster.central_proc.kill()
    until("a state other than up", lambda: True if reading(page)[0] != "up" else None, 10)
    not_up = time.monotonic() - killed
    until("down", lambda: True if reading(page)[0] == "down" else None, 20)
    down = time.monotonic() - killed
    assert not_up < 2.0, f"the dashboard still said up {not_up:.1f} s after the central was killed"

    for _ in range(3):  # the office works on
        assert front_desk.post("/walk-ins", json=person().applicant()).status_code == 201
    def queued_work() -> tuple[str, int] | None:
        seen = reading(page)
        return seen if seen[1] >= 3 else None

    state, queued = until("the new work shown queued", queued_work, 5)[0]
    assert state == "down", (state, queued)
    screenshot(page, "dashboard-outage")

    cluster.central_proc = cluster.central.process().start()
    depths: list[int] = []

    def drained() -> bool | None:
        state, depth = reading(page)
        depths.append(depth)
        return True if (state, depth) == ("up", 0) else None

    _, took = until("the queue drained and the link up", drained, 40, every=0.2)
    assert depths[0] >= 3 and depths[-1] == 0 and depths == sorted(depths, reverse=True), depths
    # What the backup watch last found (as kanim/backup/watch.py writes it) shows on the next poll.
    now = datetime.now(UTC)
    ago = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    (cluster.office.data_dir / "backup-health.json").write_text(json.dumps({"checked_at": ago(1), "targets": [
        {"target": "/media/usb/kanim", "snapshots": 52, "warnings": [], "last_drill_ok": True,
         "last_snapshot_at": ago(1), "last_drill_at": ago(60 * 20), "last_good_drill_at": ago(60 * 20)},
        {"target": "https://offsite.example:8470/", "snapshots": 8, "warnings": ["the newest backup is 3 hours old"],
         "last_drill_ok": False, "last_snapshot_at": ago(185), "last_drill_at": ago(40), "last_good_drill_at": ago(60 * 30)},
    ]}))
    page.wait_for_selector('#backup-health tr[data-target="/media/usb/kanim"]', timeout=10_000)
    assert page.get_attribute('#backup-health tr[data-target="https://offsite.example:8470/"]', "data-warnings") == "1"
    screenshot(page, "dashboard-drained")
    with page.expect_navigation():
        page.select_option("#language", "en")
    assert page.inner_text("#backups-h") == "Backups" and "20 hours ago" in page.inner_text("#backup-health")
    screenshot(page, "dashboard-drained-english")
    print(f"not up after {not_up:.2f} s, down after {down:.2f} s; drained {queued} operations in {took:.1f} s")
