"""uvicorn's httptools protocol with the bounds a server facing many clients needs, for both roles.

httptools (llhttp) buffers a request head of any size, and uvicorn has no read timeouts: only
a keep-alive timeout, which one byte of a next request disarms. 200 MB of headers on one
connection were read and answered 200, and connections trickling a byte a second were kept as
long as their clients liked. Here, per connection:

- a request head (request line and headers) over `max_head_bytes` or with more than
  `max_header_fields` fields is answered 431;
- a head not complete `head_timeout` seconds after the connection opened (its first request) or
  after the head's first byte (a later request on a kept-alive connection) is answered 408; a
  connection that sends nothing at all is closed then;
- a body that pauses longer than `body_timeout`, or arrives slower on average than
  `body_min_rate` bytes/s after a first `body_timeout` of grace, is answered 408. The rate
  rather than a fixed total: a large upload on a slow line must finish, a drip must not;
- past `max_connections` open connections (of this process), or past `max_per_address` from one
  client address (one machine cannot take every slot from the desks), a request is answered 503.

Each refusal closes the connection. Answers the protocol writes itself are problem+json, as
every kanim error is, and are logged at most once a minute per kind (an attack must not fill
the disk; no request content is ever logged). The usual request, whole in one read, costs a few
comparisons more than uvicorn's own: timers are armed only when a head or a body spans reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kanim.config import Settings
from kanim.http.problems import MEDIA_TYPE

log = logging.getLogger("kanim.http")

# After a refusal, what the client still sends is read and dropped for this long before closing:
# closing a socket with unread data makes the kernel send a reset, and a client still sending
# its oversized head would see "connection reset" instead of our 431.
LINGER_SECONDS = 2.0
LOG_INTERVAL = 60.0  # seconds: one warning per kind of refusal, then a count of the rest
CLOCK_SLACK = 0.001  # a timer may fire this much early (the event loop's clock resolution)


@dataclass(frozen=True)
class HttpLimits:
    """The `http_*` settings (their defaults and meaning: kanim/config.py, README.md)."""

    max_head_bytes: int
    max_header_fields: int
    head_timeout: float
    body_timeout: float
    body_min_rate: float  # bytes/s; 0: no rate, only the pause bound
    max_connections: int
    max_per_address: int = 1_000_000  # connections of one client address (a desk, or one attacker)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(max_head_bytes=settings.http_max_header_bytes, max_header_fields=settings.http_max_headers,
                   head_timeout=settings.http_header_timeout, body_timeout=settings.http_body_timeout,
                   body_min_rate=settings.http_body_min_rate, max_connections=settings.http_max_connections,
                   max_per_address=settings.http_max_connections_per_address)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    detail: str

    def response_tail(self) -> bytes:
        """Everything of the answer after the status line and uvicorn's default headers."""
        body = json.dumps({"type": f"urn:kanim:problem:{self.code}", "title": http.HTTPStatus(self.status).phrase,
                           "status": self.status, "detail": self.detail, "code": self.code}).encode()
        return b"".join([b"content-type: ", MEDIA_TYPE.encode(), b"\r\ncontent-length: %d\r\n" % len(body),
                         b"connection: close\r\n\r\n", body])


def refusals(limits: HttpLimits) -> dict[str, Refusal]:
    return {
        "malformed": Refusal(400, "request-malformed", "the request is not valid HTTP/1.1"),
        "head-too-large": Refusal(431, "request-head-too-large",
                                  f"the request line and headers must fit in {limits.max_head_bytes} bytes "
                                  f"and {limits.max_header_fields} header fields"),
        "head-too-slow": Refusal(408, "request-head-too-slow",
                                 f"the request line and headers did not arrive within {limits.head_timeout:g} s"),
        "body-too-slow": Refusal(408, "request-body-too-slow",
                                 f"the request body paused longer than {limits.body_timeout:g} s or arrived "
                                 f"slower than {limits.body_min_rate:g} bytes/s"),
        "busy": Refusal(503, "server-busy", f"more than {limits.max_connections} connections are open; "
                                            "try again in a moment"),
    }


class ThrottledLog:
    """The first warning of each kind, then at most one a minute with how many were left out."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._quiet_until: dict[str, float] = {}
        self._left_out: Counter[str] = Counter()

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._quiet_until.get(kind, 0.0):
            self._left_out[kind] += 1
            return
        self._quiet_until[kind] = now + self.interval
        left_out = self._left_out.pop(kind, 0)
        if left_out:
            message, args = message + " (and %d more since the last such warning)", (*args, left_out)
        log.warning(message, *args)


throttled = ThrottledLog()


class _Refused(Exception):  # noqa: N818 - a signal out of a parser callback, not an error
    """Raised in a parser callback to stop parsing; httptools wraps it, data_received answers."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Per connection: uvicorn's HttpToolsProtocol, plus the head and body bounds of `limits`.

    Created by uvicorn for each connection, as functools.partial(BoundedHttpToolsProtocol,
    limits=...) (a partial pickles by reference, so `--workers N` gets the same limits)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],  # noqa: ANN401
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: HttpLimits) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.refusals = refusals(limits)
        self._refusal: str | None = None  # set by a parser callback before it raises _Refused
        self._head_pending = True  # waiting for (the rest of) a request head
        self._head_bytes = 0  # read since that head began (the first request: since the connection opened)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_pending = False  # a head is complete, its body is not
        self._body_bytes = 0
        self._body_started = 0.0
        self._body_last = 0.0  # loop time of the body's last read
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None  # our answer waits for the client to read
        self._linger_timer: asyncio.TimerHandle | None = None

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the bytes counted and timers armed around the parse."""
        if self._linger_timer is not None:
            return  # refused: drop whatever still comes until we close
        self._unset_keepalive_if_required()
        if self._head_pending:
            self._head_bytes += len(data)
        elif self._body_pending:
            self._body_bytes += len(data)
            self._body_last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._upgrade_requested():
                return
        except httptools.HttpParserError:
            self._refuse(self._refusal or "malformed")
            return
        if self._head_pending:
            if self._head_bytes:
                self._head_read()
        elif self._body_pending and self._body_timer is None:
            self._body_started = self._body_last = self.loop.time()
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._check_body)

    def _head_read(self) -> None:
        """Part of a head arrived and the rest has not: refuse it if too large, else time it."""
        if self._head_bytes > self.limits.max_head_bytes or len(self.headers or ()) > self.limits.max_header_fields:
            self._refuse("head-too-large")
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _upgrade_requested(self) -> bool:
        """True when the connection was handed to a WebSocket protocol."""
        # kanim serves no WebSocket (uvicorn runs with ws="none"): the request was answered as
        # plain HTTP, but httptools parses nothing after an upgrade head, so the connection
        # cannot carry another request.
        if self._should_upgrade():
            self._cancel_timers()
            self.handle_websocket_upgrade()
            return True
        throttled.warning("upgrade", "an upgrade request from %s was answered as plain HTTP", self._client())
        if self.cycle is not None:
            self.cycle.keep_alive = False
        return False

    # -- parser callbacks --------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_header_fields or (
                self._head_bytes > limits.max_head_bytes and self._head_size() > limits.max_head_bytes):
            self._refusal = "head-too-large"
            raise _Refused
        self._head_pending, self._head_bytes, self._body_pending, self._body_bytes = False, 0, True, 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if (len(self.connections) > limits.max_connections or len(self.tasks) > limits.max_connections
                or self._from_this_address() > limits.max_per_address):
            self._answer_busy()
        else:
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_pending, self._head_pending = False, True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def _from_this_address(self) -> int:
        """Open connections from this client's address; counted only when there could be too many."""
        if len(self.connections) <= self.limits.max_per_address or not self.client:
            return 0
        host = self.client[0]
        return sum(1 for c in self.connections if getattr(c, "client", None) and c.client[0] == host)

    def _head_size(self) -> int:
        """The head's size as parsed (a read also holds what follows it): only for a large read."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _answer_busy(self) -> None:
        """uvicorn's limit_concurrency, with a problem+json answer and no log line per request."""
        throttled.warning("busy", "HTTP 503 server-busy to %s: %d connections open (limit %d)", self._client(),
                          len(self.connections), self.limits.max_connections)
        app, self.app = self.app, _busy_app(self.refusals["busy"])
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    # -- timers ------------------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._head_pending or self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse("head-too-slow")
        else:  # a connection opened and never used, as a browser's preconnect may be
            self.transport.close()

    def _check_body(self) -> None:
        self._body_timer = None
        if not self._body_pending or self.transport.is_closing():
            return
        limits, now = self.limits, self.loop.time()
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # The app (or a pipelined request ahead) holds the body back, or has not yet asked
            # for it (a client sending "Expect: 100-continue" waits for our go): not the
            # client's fault. Its clock starts again once it may send.
            self._body_last = now
            self._body_started = now - (self._body_bytes / limits.body_min_rate if limits.body_min_rate else 0.0)
            due = now + limits.body_timeout
        else:
            due = self._body_last + limits.body_timeout
            if limits.body_min_rate:
                due = min(due, self._body_started + limits.body_timeout + self._body_bytes / limits.body_min_rate)
            if now >= due - CLOCK_SLACK:
                self._refuse("body-too-slow")
                return
        self._body_timer = self.loop.call_later(due - now, self._check_body)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.body_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_stalled(self) -> None:
        """The client read too little of our answer for `body_timeout` s: a reader this slow (or
        none) would hold the connection and the app's task for ever."""
        self._write_timer = None
        throttled.warning("read-too-slow", "dropped a connection of %s: it stopped reading its answer", self._client())
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # a reset, so that the kernel does not keep the unread answer either
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()  # close() would wait for the unread answer to be sent

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._write_timer = None

    # -- refusing ----------------------------------------------------------------------------------

    def _refuse(self, kind: str) -> None:
        """Answer `kind` and close the connection, or only close it when an answer is under way."""
        refusal = self.refusals[kind]
        throttled.warning(kind, "HTTP %d %s to %s", refusal.status, refusal.code, self._client())
        in_body, cycle = self._body_pending, self.cycle
        self._cancel_timers()
        self._unset_keepalive_if_required()
        self._head_pending = self._body_pending = False
        if in_body:  # the cycle is this request's: the app may be waiting for the rest of the body
            quiet = cycle.response_started or bool(self.pipeline)  # this or an earlier answer is under way
            if not cycle.response_complete:
                cycle.disconnected = True  # the app's answer, if it comes, is dropped
                cycle.message_event.set()  # and its receive() returns a disconnect
        elif cycle is not None and not cycle.response_complete:
            # A next head went wrong while the previous request is still being answered: that
            # answer goes out, then the connection closes; nothing more is read.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        else:
            quiet = False
        if quiet:
            self.transport.close()
            return
        head = [STATUS_LINE[refusal.status]]
        head += [b"%s: %s\r\n" % (name, value) for name, value in self.server_state.default_headers]
        self.transport.write(b"".join(head) + refusal.response_tail())
        self._linger()

    def _linger(self) -> None:
        """Send our answer and a FIN, read and drop what the client still sends, then close."""
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _client(self) -> str:
        return self.client[0] if self.client else "a client"


def _busy_app(refusal: Refusal) -> Any:  # noqa: ANN401 - an ASGI app
    body = refusal.response_tail().split(b"\r\n\r\n", 1)[1]

    async def busy(scope: Any, receive: Any, send: Any) -> None:  # noqa: ANN401
        await send({"type": "http.response.start", "status": refusal.status,
                    "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", b"%d" % len(body)),
                                (b"connection", b"close"), (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return busy
