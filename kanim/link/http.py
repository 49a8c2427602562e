"""The Central port over HTTP: signed requests to the hub, honest errors.

Transient trouble (connection refused or cut, timeouts, 5xx) raises `CentralUnavailable`; the
central's back-pressure (429) raises `Throttled` with the seconds it asked for; anything else
unexpected raises `CentralUnavailable` too, with the status and problem detail, so the relay
backs off instead of spinning."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kanim.protocol import H_PROTOCOL, H_URGENT, PROTOCOL_VERSION, batch
from kanim.protocol.signing import sign_request
from kanim.office.ports import BatchRefused, CentralUnavailable
from kanim.protocol.wire import CentralEvent, InboxPage, Operation, OperationResult


class ProtocolRefused(CentralUnavailable):
    """The central does not speak this office's protocol version (it is older than the office):
    a link error like any other — the operations wait, none is parked — until the central is
    upgraded (docs/protocol.md)."""


class Throttled(CentralUnavailable):
    def __init__(self, retry_after: float, detail: str) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class HttpCentral:
    def __init__(self, base_url: str, *, office_code: str, key: Ed25519PrivateKey, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, protocol: int | None = PROTOCOL_VERSION) -> None:
        self.office_code = office_code
        self.protocol = protocol  # sent with every request; None sends none, as version 1 offices did
        self.key = key
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self.link_state = "up"  # reported to the central with every push

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, body: bytes = b"", *, urgent: bool = False,
              content_type: str = batch.JSON_TYPE) -> Any:
        headers = sign_request(self.key, self.office_code, method, path, body, time.time())
        headers["X-Kanim-Link-State"] = self.link_state
        if urgent:
            headers[H_URGENT] = "1"
        if self.protocol is not None:
            headers[H_PROTOCOL] = str(self.protocol)
        if body:
            headers["content-type"] = content_type
        try:
            r = self.client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise CentralUnavailable(f"{type(e).__name__}: {e}") from e
        if r.status_code == 429:
            raise Throttled(float(r.headers.get("Retry-After", "1")), _detail(r))
        if _problem_code(r) == "protocol-version-unsupported":
            raise ProtocolRefused(f"central answered {r.status_code}: {_detail(r)}")
        if _refuses_the_batch(r):
            raise BatchRefused(f"central answered {r.status_code}: {_detail(r)}")
        if r.status_code >= 400:
            raise CentralUnavailable(f"central answered {r.status_code}: {_detail(r)}")
        return r.json()

    def push(self, operations: Sequence[Operation], *, urgent: bool = False) -> list[OperationResult]:
        body, content_type = batch.encode(operations, version=self.protocol)
        data = self._call("POST", "/api/v1/link/operations", body, urgent=urgent, content_type=content_type)
        return [OperationResult(r["id"], r["ok"], r.get("permanent", False), r.get("error")) for r in data["results"]]

    def pull(self, *, after: int, limit: int = 1000) -> InboxPage:
        page = self._call("GET", f"/api/v1/link/events?after={after}&limit={limit}")
        return InboxPage([CentralEvent(e["id"], e["kind"], e["subject"], e["payload"], e.get("seq"))
                          for e in page["events"]],
                         int(page["next"]), page.get("central_id"), page.get("last_seq"))

    def watchlist(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/link/watchlist")

    def highest_numbers(self) -> dict[str, int]:
        """ISO day → the highest application serial the central holds for this office."""
        return self._call("GET", "/api/v1/link/numbers")["highest"]

    def history(self, *, after: int, after_id: str = "", limit: int = 500, challenge: str = "") -> dict[str, Any]:
        """What this office sent after (`after`, `after_id`), signed with `challenge` in it
        (GET /api/v1/link/history)."""
        return self._call("GET", f"/api/v1/link/history?after={after}&after_id={after_id}&limit={limit}"
                                 f"&challenge={challenge}")


# The central's own words for "this batch, as sent, can never be taken": only these make the
# relay split the batch and, at the end, park one operation. Any other refusal — a proxy's 413, a
# TLS port's 400, a wrong URL — says nothing about the operations: the link is unavailable, and
# the office waits (and shows why) instead of parking its whole queue.
BATCH_REFUSALS = frozenset({"batch-invalid", "body-too-large", "request-invalid", "request-malformed"})


def _refuses_the_batch(r: httpx.Response) -> bool:
    return r.status_code in (400, 413, 422) and _problem_code(r) in BATCH_REFUSALS


def _problem_code(r: httpx.Response) -> str | None:
    """The `code` of the central's problem document, or None for any other answer."""
    if r.status_code < 400 or not r.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        code = r.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _detail(r: httpx.Response) -> str:
    try:
        return r.json().get("detail", r.text[:200])
    except ValueError:
        return r.text[:200]
