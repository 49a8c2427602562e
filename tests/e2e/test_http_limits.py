"""Request heads, bodies and slow clients are bounded by the HTTP server of both roles: a real
`kanim serve` (the office, one process) and a real `kanim serve --role central --workers 2`
(SQLite), spoken to over raw sockets where a well-behaved client library would not misbehave.

The deadlines are set low (KANIM_HTTP_HEADER_TIMEOUT=2, KANIM_HTTP_BODY_TIMEOUT=1) to keep the
file fast; the office also allows only OFFICE_MAX_CONNECTIONS connections, for the 503 test.
Two tests are guards rather than regressions, and pass on uvicorn alone too: a kept-alive
connection may idle longer than the header deadline, and large or slow-but-steady uploads go
through.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kanim.ops.cluster import CentralSpec, NodeProcess, free_port, node_env
from tests.e2e.desks import person

HOST = "127.0.0.1"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 1.0
BODY_MIN_RATE = 2000  # bytes/s
OFFICE_MAX_CONNECTIONS = 250
OFFICE_MAX_PER_ADDRESS = 200
SLACK = 3.0  # seconds a deadline may be late on a busy 2-core machine
LIMITS = {"http_header_timeout": str(HEADER_TIMEOUT), "http_body_timeout": str(BODY_TIMEOUT),
          "http_body_min_rate": str(BODY_MIN_RATE)}
PASSWORD = "front-desk-password"
PROBLEM = "application/problem+json"


@dataclass
class Node:
    role: str
    port: int
    process: NodeProcess

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.port}/api/v1"

    def rss_bytes(self) -> int:
        """Resident memory of the server and its worker processes."""
        return sum(_rss(pid) for pid in _tree(self.process.proc.pid))

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [pid, *(p for c in children for p in _tree(int(c)))]


def _rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
    return int(kib) * 1024


def _provision_office(data: Path) -> dict[str, str]:
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade

    settings = {"data_dir": str(data), "office_code": "MND", "database_url": f"sqlite:///{data / 'kanim.db'}"}
    office = bootstrap(Settings(_env_file=None, **settings))
    upgrade(office.engine)
    add_user(office, username="frontdesk", full_name="F", role="front_desk", password=PASSWORD)
    office.engine.dispose()
    return settings


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    root = tmp_path_factory.mktemp("http_limits")
    (root / "office").mkdir()
    office_settings = {**_provision_office(root / "office"), **LIMITS,
                       "http_max_connections": str(OFFICE_MAX_CONNECTIONS),
                       "http_max_connections_per_address": str(OFFICE_MAX_PER_ADDRESS)}
    central = CentralSpec(root / "central", free_port())
    central.data_dir.mkdir()
    office_port = free_port()
    started = {
        "office": Node("office", office_port, NodeProcess(
            "office", ["serve", "--port", str(office_port), "--no-access-log"], node_env(office_settings),
            root / "office" / "office.log")),
        "central": Node("central", central.port, NodeProcess(
            "central", ["serve", "--role", "central", "--port", str(central.port), "--workers", "2",
                        "--no-access-log"], node_env({**central.settings(), **LIMITS}),
            central.data_dir / "central.log")),
    }
    try:
        for node in started.values():  # both start at once, then both are waited for
            node.process.start()
        for node in started.values():
            node.process.url = f"http://{HOST}:{node.port}"
            node.process.wait_healthy(60)
        yield started
    finally:
        for node in started.values():
            node.process.stop()


@pytest.fixture(params=["office", "central"])
def node(request: pytest.FixtureRequest, nodes: dict[str, Node]) -> Node:
    return nodes[request.param]


# -- raw HTTP ------------------------------------------------------------------------------------

def _connect(node: Node, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((HOST, node.port), timeout=timeout)


def _read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; (data, whether it closed) by the timeout."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, socket.timeout):
        return data, False
    except ConnectionResetError:
        pass
    return data, True


def _status(response: bytes) -> int | None:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def _problem_code(response: bytes) -> str:
    head, _, body = response.partition(b"\r\n\r\n")
    assert f"content-type: {PROBLEM}".encode() in head.lower(), head
    return json.loads(body)["code"]


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (with a content-length) from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"<closed>"
        assert not data.endswith(b"<closed>"), data
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _health_head(extra: bytes = b"") -> bytes:
    return b"GET /api/v1/health HTTP/1.1\r\nHost: kanim\r\n" + extra


# -- heads ---------------------------------------------------------------------------------------

def test_a_megabyte_of_headers_is_answered_431_and_200_mb_more_do_not_grow_the_server(node: Node) -> None:
    before = node.rss_bytes()
    with _connect(node) as sock:
        sock.sendall(_health_head(b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(1000)) + b"\r\n"))
        response, closed = _read_until_closed(sock)
    assert _status(response) == 431 and closed, response[:300]
    assert _problem_code(response) == "request-head-too-large"

    line = b"X-Pad: " + b"a" * 8185 + b"\r\n"  # 8 KiB a header, 25,600 of them: 200 MiB never ending
    sent, started = 0, time.monotonic()
    with _connect(node) as sock:
        try:
            sock.sendall(_health_head())
            while sent < 200 * 2**20:
                sock.sendall(line * 8)
                sent += len(line) * 8
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: the point
        sock.settimeout(5)
        response, closed = _read_until_closed(sock)
    assert closed, f"the connection was still open after {sent} bytes of headers"
    assert _status(response) in (431, None), response[:300]  # the 431 is lost if the server resets first
    grown = node.rss_bytes() - before
    assert grown < 30 * 2**20, f"{node.role} grew by {grown / 2**20:.0f} MiB on {sent / 2**20:.0f} MiB of headers"
    assert time.monotonic() - started < 20
    assert httpx.get(f"{node.api}/health", timeout=5).status_code == 200


def test_a_head_of_too_many_header_fields_is_answered_431(node: Node) -> None:
    with _connect(node) as sock:
        sock.sendall(_health_head(b"".join(b"X-F%d: 1\r\n" % i for i in range(150)) + b"\r\n"))
        response, _ = _read_until_closed(sock)
    assert _status(response) == 431 and _problem_code(response) == "request-head-too-large", response[:300]


def _trickle(node: Node, *, trickling: int, idle: int, give_up: float) -> list[tuple[float | None, bytes]]:
    """Open `trickling` connections that send a request line, then one header byte a second,
    and `idle` ones that send nothing. For each: seconds from its connect until the server
    closed it (None: still open after `give_up` s), and what the server sent."""
    sel = selectors.DefaultSelector()
    opened: dict[socket.socket, float] = {}
    outcome: dict[socket.socket, tuple[float | None, bytes]] = {}
    for i in range(trickling + idle):
        sock = _connect(node)
        if i < trickling:
            sock.sendall(_health_head(b"X-Slow: "))
        sock.setblocking(False)
        opened[sock] = time.monotonic()
        outcome[sock] = (None, b"")
        sel.register(sock, selectors.EVENT_READ)
    trickled = list(opened)[:trickling]
    start, next_byte = time.monotonic(), time.monotonic() + 1
    while sel.get_map() and time.monotonic() - start < give_up:
        for key, _ in sel.select(timeout=max(0.0, next_byte - time.monotonic())):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                outcome[sock] = (None, outcome[sock][1] + chunk)
            else:
                outcome[sock] = (time.monotonic() - opened[sock], outcome[sock][1])
                sel.unregister(sock)
        if time.monotonic() >= next_byte:
            next_byte += 1
            for sock in trickled:
                if outcome[sock][0] is None:
                    try:
                        sock.send(b"a")
                    except OSError:
                        pass  # closed: the next select says so
    for sock in opened:
        sock.close()
    return [outcome[s] for s in opened]


def test_connections_trickling_headers_are_closed_at_the_header_deadline_while_health_answers(node: Node) -> None:
    with ThreadPoolExecutor(1) as pool:
        attack = pool.submit(_trickle, node, trickling=150, idle=20, give_up=HEADER_TIMEOUT + SLACK + 1)
        time.sleep(1.0)  # the attack is under way
        t = time.monotonic()
        health = httpx.get(f"{node.api}/health", timeout=5)
        answered_in = time.monotonic() - t
        outcomes = attack.result()
    assert health.status_code == 200 and answered_in < 2, (health.status_code, answered_in)
    still_open = [o for o in outcomes if o[0] is None]
    assert not still_open, f"{len(still_open)} of {len(outcomes)} slow connections still open"
    closed_after = sorted(o[0] for o in outcomes)
    assert HEADER_TIMEOUT - 0.5 <= closed_after[0] and closed_after[-1] <= HEADER_TIMEOUT + SLACK, closed_after
    answers = [_status(data) for _, data in outcomes]
    assert answers.count(408) == 150 and answers.count(None) == 20, answers  # idle ones: closed, no answer
    assert _problem_code(next(data for _, data in outcomes if data)) == "request-head-too-slow"


def test_a_kept_alive_connection_idle_longer_than_the_header_deadline_is_still_served(node: Node) -> None:
    with _connect(node) as sock:
        sock.sendall(_health_head(b"\r\n"))
        assert _status(_read_response(sock)) == 200
        time.sleep(HEADER_TIMEOUT + 0.5)  # idle between requests: the keep-alive timeout (5 s) applies
        sock.sendall(_health_head(b"\r\n"))
        assert _status(_read_response(sock)) == 200


# -- bodies --------------------------------------------------------------------------------------

def _post_slowly(node: Node, pieces: list[tuple[float, bytes]]) -> tuple[int | None, float]:
    """POST a JSON body to /auth/token (both roles read it) in `pieces` (pause, bytes), declaring
    more than is sent. The status the server answered and when, from the first body byte."""
    with _connect(node, timeout=BODY_TIMEOUT + SLACK) as sock:
        sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: kanim\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        started = time.monotonic()
        try:
            for pause, data in pieces:
                if select.select([sock], [], [], pause)[0]:
                    break  # the server answered (or closed): stop sending
                sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response, _ = _read_until_closed(sock)
        return _status(response), time.monotonic() - started


def test_a_body_that_pauses_longer_than_the_body_timeout_is_cut_with_408(node: Node) -> None:
    status, after = _post_slowly(node, [(0, b'{"username": "frontdesk", '), (BODY_TIMEOUT + 1.5, b'"password"')])
    assert status == 408 and BODY_TIMEOUT - 0.3 <= after <= BODY_TIMEOUT + SLACK, (status, after)


def test_a_body_dripping_slower_than_the_minimum_rate_is_cut_with_408(node: Node) -> None:
    # 100 bytes every 0.25 s (400 bytes/s, a fifth of the minimum), never a pause near the
    # timeout: the drip would take 10 s, the rate bound ends it after about 1.3 s.
    status, after = _post_slowly(node, [(0, b'{"username": "'), *[(0.25, b"a" * 100)] * 40])
    assert status == 408 and after <= BODY_TIMEOUT + SLACK, (status, after)


def test_a_body_still_dripping_after_the_answer_is_cut(nodes: dict[str, Node]) -> None:
    # A 404 is answered before the body is read; uvicorn alone let the rest drip for ever.
    with _connect(nodes["office"], timeout=BODY_TIMEOUT + SLACK) as sock:
        sock.sendall(b"POST /api/v1/nowhere HTTP/1.1\r\nHost: kanim\r\nContent-Length: 100000\r\n\r\n")
        assert _status(_read_response(sock)) == 404
        started = time.monotonic()
        try:
            for _ in range(40):
                sock.sendall(b"a" * 100)
                time.sleep(0.25)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _, closed = _read_until_closed(sock)
    assert closed and time.monotonic() - started <= BODY_TIMEOUT + SLACK


# -- what must keep working ----------------------------------------------------------------------

def _multipart(data: bytes, name: str) -> tuple[bytes, bytes]:
    boundary = os.urandom(8).hex().encode()
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode()
            + b'"\r\nContent-Type: application/pdf\r\n\r\n' + data + b"\r\n--" + boundary + b"--\r\n")
    return b"multipart/form-data; boundary=" + boundary, body


def test_uploads_of_megabytes_and_slow_but_steady_uploads_still_succeed(nodes: dict[str, Node]) -> None:
    office = nodes["office"]
    token = httpx.post(f"{office.api}/auth/token", json={"username": "frontdesk", "password": PASSWORD}, timeout=30)
    assert token.status_code == 200, token.text
    auth = f"Bearer {token.json()['access_token']}"
    with httpx.Client(base_url=office.api, headers={"authorization": auth}, timeout=30) as desk:
        made = desk.post("/walk-ins", json=person().applicant())
        assert made.status_code == 201, made.text
        app_id = made.json()["id"]
        scan = b"%PDF-1.4\n" + os.urandom(3_000_000)
        r = desk.put(f"/applications/{app_id}/documents/ktp", files={"file": ("ktp.pdf", scan, "application/pdf")})
        assert r.status_code == 201, r.text

    # 200 kB over 2 s (twice the body timeout in all), 20 kB every 0.2 s: well above the rate.
    content_type, body = _multipart(b"%PDF-1.4\n" + os.urandom(200_000), "kk.pdf")
    with _connect(office) as sock:
        sock.sendall(b"PUT /api/v1/applications/%s/documents/kk HTTP/1.1\r\nHost: kanim\r\nAuthorization: %s\r\n"
                     b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (app_id.encode(), auth.encode(), content_type,
                                                                          len(body)))
        for i in range(0, len(body), 20_000):
            sock.sendall(body[i:i + 20_000])
            time.sleep(0.2)
        assert _status(_read_response(sock)) == 201
        sock.sendall(b"GET /api/v1/applications/%s/documents HTTP/1.1\r\nHost: kanim\r\nAuthorization: %s\r\n\r\n"
                     % (app_id.encode(), auth.encode()))  # the same connection, kept alive
        listed = _read_response(sock)
    assert _status(listed) == 200
    assert sorted(d["kind"] for d in json.loads(listed.partition(b"\r\n\r\n")[2])) == ["kk", "ktp"]


def test_past_the_connection_limit_a_request_is_answered_503_and_served_again_after(nodes: dict[str, Node]) -> None:
    office = nodes["office"]
    held = [_connect(office) for _ in range(OFFICE_MAX_CONNECTIONS)]
    try:
        with _connect(office) as sock:
            sock.sendall(_health_head(b"\r\n"))
            response, closed = _read_until_closed(sock)
        assert _status(response) == 503 and closed, response[:300]
        assert _problem_code(response) == "server-busy"
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while (status := httpx.get(f"{office.api}/health", timeout=5).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 200


def test_one_address_holding_its_share_of_connections_leaves_the_rest_to_other_desks(nodes: dict[str, Node]) -> None:
    """A machine on the office network opens slow connections by the hundred: past its share
    its own requests get 503, while a desk at another address is served (loopback's 127.0.0.2)."""
    office = nodes["office"]
    held = [_connect(office) for _ in range(OFFICE_MAX_PER_ADDRESS)]
    try:
        with _connect(office) as sock:
            sock.sendall(_health_head(b"\r\n"))
            response, _ = _read_until_closed(sock)
        assert _status(response) == 503 and _problem_code(response) == "server-busy", response[:300]
        other = socket.create_connection((HOST, office.port), timeout=10, source_address=("127.0.0.2", 0))
        with other:
            other.sendall(_health_head(b"\r\n"))
            response, _ = _read_until_closed(other)
        assert _status(response) == 200, response[:300]
    finally:
        for s in held:
            s.close()


def test_malformed_requests_get_a_problem_and_leave_one_log_line_without_their_content(node: Node) -> None:
    marker = b"3578011203850011"  # shaped like a NIK: nothing of a request may reach the log
    for _ in range(30):
        with _connect(node) as sock:
            sock.sendall(b"GET /api/v1/health?nik=" + marker + b" HTTP/1.1\r\nHost: kanim\r\nX-Bad\x01: " + marker
                         + b"\r\n\r\n")
            response, _ = _read_until_closed(sock)
        assert _status(response) == 400 and _problem_code(response) == "request-malformed", response[:300]
    time.sleep(0.2)  # the log is written by another process
    log = node.log()
    assert marker.decode() not in log
    assert log.count("request-malformed") + log.count("Invalid HTTP request") <= 2, log[-2000:]  # one a worker
