"""The recovery dashboard live, over real HTTP: a central and an office as real processes
(kanim.ops.cluster, as `kanim demo` runs them), the dashboard read as its page reads it (the
live region the browser polls every second, with the console's cookie session). The central is
killed: the dashboard says the link is no longer up within 2 s, and down soon after; work made
meanwhile shows queued; the central starts again: the queue drains to nothing and the link is up.
The browser test of the same (Chromium polling the page) is the browser-test engineer's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
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


def console(url: str, role: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/staff/login").text).group(1)
    assert c.post("/staff/login", data={"username": role, "password": PASSWORD, "csrf_token": token}).status_code == 303
    return c


def api(url: str, role: str) -> httpx.Client:
    r = httpx.post(f"{url}/api/v1/auth/token", json={"username": role, "password": PASSWORD}, timeout=30)
    return httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {r.json()['access_token']}"},
                        timeout=30)


def reading(dashboard: httpx.Client) -> tuple[str, int]:
    """The link's state and the queue's depth, as the live region shows them now."""
    html = dashboard.get("/staff/dashboard/live").text
    state = re.search(r'id="link-state" data-state="(\w+)"', html).group(1)
    return state, int(re.search(r'id="queue-depth" data-value="(\d+)"', html).group(1))


def until(what: str, probe, timeout: float, every: float = 0.1):  # noqa: ANN001, ANN201
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if (value := probe()) is not None:
            return value, time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout} s")


def test_the_dashboard_shows_the_link_down_and_the_backlog_draining_when_the_central_returns(cluster) -> None:  # noqa: ANN001
    dashboard = console(cluster.office.url, "supervisor")
    front_desk = api(cluster.office.url, "front_desk")
    until("link up", lambda: True if reading(dashboard) == ("up", 0) else None, 20)

    killed = time.monotonic()
    cluster.central_proc.kill()
    until("a state other than up", lambda: True if reading(dashboard)[0] != "up" else None, 10)
    not_up = time.monotonic() - killed
    until("down", lambda: True if reading(dashboard)[0] == "down" else None, 20)
    down = time.monotonic() - killed
    assert not_up < 2.0, f"the dashboard still said up {not_up:.1f} s after the central was killed"

    for _ in range(3):  # the office works on
        assert front_desk.post("/walk-ins", json=person().applicant()).status_code == 201
    state, queued = reading(dashboard)
    assert state == "down" and queued >= 3, (state, queued)

    cluster.central_proc = cluster.central.process().start()
    depths: list[int] = []

    def drained() -> bool | None:
        state, depth = reading(dashboard)
        depths.append(depth)
        return True if (state, depth) == ("up", 0) else None

    _, took = until("the queue drained and the link up", drained, 40, every=0.2)
    assert depths[0] >= 3 and depths[-1] == 0 and depths == sorted(depths, reverse=True), depths
    print(f"not up after {not_up:.2f} s, down after {down:.2f} s; drained {queued} operations in {took:.1f} s")
