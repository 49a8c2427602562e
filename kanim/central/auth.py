"""Who sent a link request, decided before its body is read.

An ASGI middleware in front of the central's `/api/v1/link/` routes:

1. the signature headers are bounded and well-formed and the date is within the skew (401),
   and the protocol version the office declares (`X-Kanim-Protocol`, none for version 1) is
   one this central speaks (400 `protocol-version-unsupported`: docs/protocol.md);
2. a declared body over the limit is refused (413) before it is read;
3. the office is known and active (401);
4. the body is read in chunks, counted against the limit (413), hashed as it arrives and
   spooled to a temporary file past 1 MiB, and the signature is checked against that digest
   (401): a forged signature costs the central a little disk, not the body's size in memory.
   At most two bodies of one office are read at a time (its one relay needs one) and sixteen in
   all; beyond, 429 with Retry-After before anything is read;
4a. a push (POST) is admitted only while this process holds fewer than `central_max_pushes`
   pushes, read or being applied, and at most two of one office: each holds its body and its
   operations in memory, so that bound is the central's memory when every office drains at once
   (about max pushes x 4 x link_max_body_bytes at worst), and every office draining gets its
   turn (a big backlog is more batches, never more at once): a place that frees goes to the
   office told to wait the longest ago. A third of the places is kept for
   pushes the office marks urgent (`X-Kanim-Urgent`: medical, hajj/umrah, a near travel date),
   so urgent work goes first nationally when the central is full. Beyond, 429 `central-full`
   with Retry-After before the body is read; the relay waits and sends again (not a failure).
   A place is taken only once the signature and the nonce are checked (step 5), so requests
   nobody signed cannot hold them;
5. the request's nonce has not been seen within the replay window (401): a captured signed
   request cannot be sent again, not even a GET of the office's feed.

Only then does the route see the request, with the office's code in the scope. An unsigned
400 MB body therefore costs the central a few header checks, not 400 MB of memory. A transient
database failure while checking answers 503 with Retry-After (the relay retries).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import anyio
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kanim.central import tables as ct
from kanim.central.node import CentralNode
from kanim.protocol import H_PROTOCOL, H_URGENT, VersionUnsupported, version_of
from kanim.protocol.signing import NONCE_KEEP_SECONDS, SignatureError, read_signed_headers, verify_signed
from kanim.http.problems import problem

OFFICE_SCOPE_KEY = "kanim.office"  # where the route finds the office that signed the request
PROTOCOL_SCOPE_KEY = "kanim.protocol"  # and the protocol version it speaks
READS_PER_OFFICE, READS_IN_ALL = 2, 16
PUSHES_PER_OFFICE = 2  # its relay needs one; a second covers a push resent after a client timeout
WAIT_FORGOTTEN = 10.0  # seconds: a relay told to wait asks again after Retry-After (1 s) and reading its batch
log = logging.getLogger("kanim.central")
SPOOL_IN_MEMORY = 1 << 20


def _version(scope: Scope) -> int:
    """The protocol version of the request, checked before anything else is: an office newer than
    this central waits (a link error at the office, nothing parked) until the central is upgraded."""
    try:
        return version_of(_headers(scope).get(H_PROTOCOL))
    except VersionUnsupported as e:
        raise _Refused(400, "protocol-version-unsupported", str(e)) from None


@dataclass(frozen=True)
class _Wait:
    """An office told the central is full: since when (its place in the queue), whether its
    push was urgent, and when it last asked."""

    since: float
    urgent: bool
    asked: float


class _Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


class SignedLink:
    def __init__(self, app: ASGIApp, *, node: CentralNode, prefix: str, max_body_bytes: int) -> None:
        self.app, self.node, self.prefix, self.max_body = app, node, prefix, max_body_bytes
        self.reading: Counter[str] = Counter()  # bodies being read, per office (one event loop: no lock)
        self.pushing: Counter[str] = Counter()  # pushes admitted and not yet answered, per office
        self.max_pushes = node.settings.central_max_pushes
        self.urgent_share = max(1, self.max_pushes // 3)
        self.versions: dict[str, int] = {}  # the protocol version each office last spoke, in this process
        self.waiting: dict[str, _Wait] = {}  # offices told the central is full, in this process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        from kanim.central.apply import TRANSIENT

        push = scope["method"] == "POST"
        try:
            version = _version(scope)
            office, body = await self._authenticate(scope, receive, push=push)
        except _Refused as e:
            await problem(e.status, e.code, e.detail, instance=scope["path"],
                          headers={"Connection": "close", **e.headers})(scope, receive, send)
            return
        except _Disconnected:
            return
        except TRANSIENT:
            await problem(503, "central-busy", "the central's database is busy or unreachable; retry later",
                          instance=scope["path"], headers={"Retry-After": "2"})(scope, receive, send)
            return
        try:
            scope[OFFICE_SCOPE_KEY], scope[PROTOCOL_SCOPE_KEY] = office, version
            if self.versions.get(office) != version:
                # Once per office and process: during a rollout the log says who still speaks what.
                log.info("central: office %s speaks link protocol version %d", office, version)
                self.versions[office] = version
            await self.app(scope, _replay(body), send)
        finally:
            if push:
                self._release(office)

    def _turn(self, office: str, headers: Headers) -> float | None:
        """Before the body is read: a free place and this office's turn for it, or 429 (the
        module's 4a; a full central reads nothing). A place that frees goes to the office that
        has waited longest for one (`_its_turn`), not to whichever asks first: without turns, an
        office unlucky in its timing was told to wait again and again while others took turn
        after turn (bench/national.py: one office's first 50 at 278 s, the others' at 39-99 s).
        A push that passes gives up its place in the queue here and carries it (the returned
        `since`) to `_take`: if its signature then fails, a request nobody signed, queued in an
        office's name, has spent its turn and is gone, so it cannot keep the places empty by
        asking again and again; one still unsigned at its turn waits no more than WAIT_FORGOTTEN."""
        urgent, free, now = self._room(office, headers)
        if free <= 0 or not self._its_turn(office, urgent, free, now):
            self._wait(office, urgent, now)
        wait = self.waiting.pop(office, None)
        return wait.since if wait else None

    def _take(self, office: str, headers: Headers, since: float | None) -> None:
        """Once the signature and the nonce are checked: the place, if it is still free (requests
        nobody signed never hold one); a push that finds it taken keeps its place in the queue."""
        urgent, free, now = self._room(office, headers)
        if free <= 0:
            self._wait(office, urgent, now, since)
        self.pushing[office] += 1

    def _room(self, office: str, headers: Headers) -> tuple[bool, int, float]:
        """Whether the push is urgent, and the places free to it (none once its office has two)."""
        urgent = headers.get(H_URGENT) == "1"
        limit = self.max_pushes if urgent else self.max_pushes - self.urgent_share
        free = 0 if self.pushing[office] >= PUSHES_PER_OFFICE else limit - sum(self.pushing.values())
        return urgent, free, time.monotonic()

    def _wait(self, office: str, urgent: bool, now: float, since: float | None = None) -> NoReturn:
        before = self.waiting.get(office)
        self.waiting[office] = _Wait(since or (before.since if before else now), urgent, asked=now)
        raise _Refused(429, "central-full", "the central is applying other offices' batches"
                       + ("" if urgent else " (some places are kept for urgent work)") + "; retry shortly",
                       {"Retry-After": "1"})

    def _its_turn(self, office: str, urgent: bool, free: int, now: float) -> bool:
        """Whether fewer offices have waited longer than this one than there are free places.
        An urgent push queues only behind urgent ones (it has places of its own); an office that
        has not asked again for `WAIT_FORGOTTEN` seconds (drained, or gone) waits no more."""
        for other in [o for o, w in self.waiting.items() if now - w.asked > WAIT_FORGOTTEN]:
            del self.waiting[other]
        mine = self.waiting.get(office)
        since = mine.since if mine else now
        ahead = sum(1 for other, w in self.waiting.items()
                    if other != office and w.since < since and (w.urgent or not urgent))
        return ahead < free

    def _release(self, office: str) -> None:
        self.pushing[office] -= 1
        if not self.pushing[office]:
            del self.pushing[office]

    async def _authenticate(self, scope: Scope, receive: Receive, *, push: bool = False) -> tuple[str, bytes]:
        headers = _headers(scope)
        try:
            signed = read_signed_headers(headers, time.time())
        except SignatureError as e:
            raise _Refused(401, "not-authenticated", str(e)) from None
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or len(declared) > 15 or int(declared) > self.max_body):
            raise _Refused(413, "body-too-large", f"a link request body is at most {self.max_body} bytes")
        key = await anyio.to_thread.run_sync(_office_key, self.node, signed.office)
        if key is None:
            raise _Refused(401, "not-authenticated", f"unknown or inactive office {signed.office!r}")
        if self.reading[signed.office] >= READS_PER_OFFICE or sum(self.reading.values()) >= READS_IN_ALL:
            raise _Refused(429, "slow-down", "the central is reading other bodies of this office; retry shortly",
                           {"Retry-After": "1"})
        since = self._turn(signed.office, headers) if push else None
        return await self._checked_body(scope, receive, signed, key, push=push, since=since)

    async def _checked_body(self, scope: Scope, receive: Receive, signed, key, *,  # noqa: ANN001
                            push: bool, since: float | None) -> tuple[str, bytes]:
        self.reading[signed.office] += 1
        try:
            body, digest = await self._read(receive)
        finally:
            self.reading[signed.office] -= 1
            if not self.reading[signed.office]:
                del self.reading[signed.office]
        path = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        try:
            verify_signed(key, signed, scope["method"], path, digest)
        except SignatureError as e:
            body.close()
            raise _Refused(401, "not-authenticated", str(e)) from None
        if not await anyio.to_thread.run_sync(_first_use, self.node, signed.office, signed.nonce):
            body.close()
            raise _Refused(401, "not-authenticated", "this signed request was seen before: a replay is refused")
        with body:
            body.seek(0)
            data = body.read()
        if push:  # the places may have filled while this body was read: then it is refused (429) after all
            self._take(signed.office, _headers(scope), since)
        return signed.office, data

    async def _read(self, receive: Receive) -> tuple[tempfile.SpooledTemporaryFile, str]:
        digest, size = hashlib.sha256(), 0
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    raise _Refused(413, "body-too-large", f"a link request body is at most {self.max_body} bytes")
                digest.update(chunk)
                spool.write(chunk)
                if not message.get("more_body", False):
                    return spool, digest.hexdigest()
        except BaseException:
            spool.close()
            raise


class _Disconnected(Exception):
    pass


def _headers(scope: Scope) -> Headers:
    return Headers(scope=scope)  # case-insensitive, latin-1 as on the wire


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _office_key(node: CentralNode, code: str) -> str | None:
    with node.uow(readonly=True) as uow:
        row = uow.session.execute(select(ct.central_office.c.public_key).where(
            ct.central_office.c.code == code, ct.central_office.c.active.is_(True))).first()
        return row.public_key if row else None


def _first_use(node: CentralNode, office: str, nonce: str) -> bool:
    """Record the nonce; False if it was seen within the window. Expired nonces are pruned in
    the same transaction (the index on seen_at keeps that cheap)."""
    now = datetime.now(UTC)
    with node.uow() as uow:
        s = uow.session
        s.execute(delete(ct.link_nonce).where(ct.link_nonce.c.seen_at < now - timedelta(seconds=NONCE_KEEP_SECONDS)))
        try:
            with s.begin_nested():
                s.execute(ct.link_nonce.insert().values(office_code=office, nonce=nonce, seen_at=now))
        except IntegrityError:
            return False
        s.commit()  # no audit row: nonces are bookkeeping, not an event
    return True
