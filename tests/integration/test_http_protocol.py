"""The bounded HTTP protocol (kanim/web/protocol.py) on a real uvicorn server and real sockets,
for what no `kanim serve` route can show cheaply: an answer larger than the kernel's socket
buffers (at most 4 MiB on Linux by default), to a client that stops reading it."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from kanim.ops.cluster import free_port
from kanim.web.protocol import BoundedHttpToolsProtocol, HttpLimits

BODY_TIMEOUT = 0.5
CHUNK = 2**20
CHUNKS = 64  # 64 MiB: far more than any socket buffer holds


class StreamingApp:
    """Answers every request with CHUNKS MiB; `ended` once its last send returned (uvicorn's
    send() returns at once, dropping the data, after the client is gone)."""

    def __init__(self) -> None:
        self.ended = threading.Event()

    async def __call__(self, scope: dict, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % (CHUNK * CHUNKS))]})
        try:
            for _ in range(CHUNKS):
                await send({"type": "http.response.body", "body": b"a" * CHUNK, "more_body": True})
        finally:
            self.ended.set()


@pytest.fixture
def served() -> Iterator[tuple[int, StreamingApp]]:
    app, port = StreamingApp(), free_port()
    limits = HttpLimits(body_timeout=BODY_TIMEOUT)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           http=functools.partial(BoundedHttpToolsProtocol, limits=limits)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield port, app
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_client_that_stops_reading_its_answer_is_dropped_after_the_body_timeout(served) -> None:  # noqa: ANN001
    port, app = served
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: kanim\r\n\r\n")
        started = time.monotonic()
        assert app.ended.wait(BODY_TIMEOUT + 5), "the app still waits to send to a client that reads nothing"
        assert BODY_TIMEOUT - 0.1 <= time.monotonic() - started
        sock.settimeout(5)
        received, reset = 0, False
        try:
            while chunk := sock.recv(CHUNK):
                received += len(chunk)
        except ConnectionResetError:
            reset = True
    assert reset and received < CHUNK * CHUNKS, (reset, received)  # dropped, not finished
