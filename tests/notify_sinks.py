"""Real local servers for notification tests, each on 127.0.0.1 and a port the OS picks:

- `FakeWhatsAppCloud`: the WhatsApp Cloud API's `POST /{version}/{phone_id}/messages`, checking
  the bearer token like Meta does (401, code 190) and answering from a script; it can also post
  status webhooks, signed with an app secret, to a URL;
- `FakeSMSEagle`: an SMSEagle gateway's JSON-RPC `POST /jsonrpc/sms`, the same way;
- `SmtpSink`: an aiosmtpd server that keeps every message and refuses a recipient on demand;
- `WebhookReceiver`: the office's end of a webhook, keeping each raw body and its headers.

Each records what it was sent and answers each request with the next scripted `Answer`
(`then(...)`), or a success once the script is used up. A `hang` holds the request open past the
client's timeout; leaving the `with` block releases it, so shutdown never waits on one.

The payload builders (`status`, `statuses_payload`, `inbound_payload`, `sign`) are the Cloud
API's webhook shapes, for tests that parse receipts without a server.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import itertools
import json
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # JSON; None: the sink's success body
    hang: float = 0.0  # seconds to hold the request before answering


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    json: Any
    raw: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _ScriptedServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        self.server.sink.received(Recorded(self.path, dict(self.headers.items()), parsed, raw), self)

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a hang, as meant
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read logs
        pass


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: _HttpSink) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sink = sink


class _HttpSink(ABC):
    """A scripted HTTP server in a thread; subclasses say what a success looks like."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _ScriptedServer(self)
        # A short poll: shutdown() waits for the loop to look, and tests start many sinks.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def then(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

    def __enter__(self) -> _HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()  # a hanging request answers now
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def received(self, request: Recorded, handler: _Handler) -> None:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        answer = self.refusal(request.path, request.headers, request.json) or scripted or Answer()
        if answer.hang:
            self._released.wait(answer.hang)
        handler.answer(answer.status, answer.body if answer.body is not None else self.success(request.json))

    def refusal(self, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        """What the real service answers to a request it rejects whatever the script says."""
        return None

    @abstractmethod
    def success(self, body: Any) -> Any:
        """The service's answer to an accepted request."""


class FakeWhatsAppCloud(_HttpSink):
    """The Cloud API's send endpoint. Point Apprise at it with `notify_url` (the WhatsApp
    plugin's class attribute holding Meta's URL)."""

    def __init__(self, token: str = "EAAGkanimtesttoken") -> None:
        super().__init__()
        self.token = token
        self.wamids: list[str] = []  # every wamid handed out, in order
        self.recipient_of: dict[str, str] = {}  # wamid -> the number it was sent to
        self._counter = itertools.count(1)

    @property
    def notify_url(self) -> str:
        return self.base_url + "/{fb_ver}/{phone_id}/messages"

    def refusal(self, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(401, 190, "Error validating access token")
        if not (path.endswith("/messages") and path.count("/") == 3):
            return self.error(400, 100, "Unsupported post request")
        return None

    def success(self, body: Any) -> Any:
        wamid = f"wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEkFBQ0RFRjAxMjM0NTY3ODkw{next(self._counter):04d}"
        to = body.get("to", "") if isinstance(body, dict) else ""
        with self._lock:
            self.wamids.append(wamid)
            self.recipient_of[wamid] = to
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid, "message_status": "accepted"}]}

    @staticmethod
    def error(status: int, code: int, title: str) -> Answer:
        """A Graph API error as the Cloud API sends it."""
        return Answer(status, {"error": {"message": f"(#{code}) {title}", "type": "OAuthException", "code": code,
                                         "error_data": {"messaging_product": "whatsapp", "details": title},
                                         "fbtrace_id": "AbCdEfGhIjKlMnOp"}})

    def post_statuses(self, url: str, app_secret: str, statuses: list[dict[str, Any]]) -> httpx.Response:
        """Deliver status webhooks the way Meta does: the raw body signed with the app secret."""
        body = json.dumps(statuses_payload(statuses)).encode()
        return httpx.post(url, content=body, timeout=10,
                          headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)})


class FakeSMSEagle(_HttpSink):
    """An SMSEagle gateway's JSON-RPC API (v1), which answers HTTP 200 even to a refusal."""

    def __init__(self, token: str = "kanimsmstoken") -> None:
        super().__init__()
        self.token = token
        self._counter = itertools.count(4753)

    def refusal(self, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        params = body.get("params", {}) if isinstance(body, dict) else {}
        if params.get("access_token") != self.token:
            return self.error("Invalid login or password")
        return None if path.endswith("/jsonrpc/sms") else Answer(404, {"error": "not found"})

    def success(self, body: Any) -> Any:
        return {"result": {"message_id": str(next(self._counter)), "status": "ok"}}

    @staticmethod
    def error(text: str) -> Answer:
        return Answer(200, {"result": {"error_text": text, "status": "error"}})

    @property
    def texts(self) -> list[str]:
        return [r.json["params"]["message"] for r in self.requests if isinstance(r.json, dict)]


class FakeTelegramBot(_HttpSink):
    """The Telegram Bot API's `POST /bot{token}/sendMessage`, as api.telegram.org answers it: a
    wrong token is 401 (`Unauthorized`), an unknown chat 400 (`chat not found`)."""

    def __init__(self, token: str = "123456789:AAkanimtestbottokenAAAAAAAAAAAAAAAA", chat: str = "-1001234567890") -> None:
        super().__init__()
        self.token, self.chat = token, chat
        self._counter = itertools.count(100)

    @property
    def url(self) -> str:
        """The office alert URL that sends here (`?api=`: the Bot API base)."""
        return f"tgram://{self.token}/{self.chat}/?api={self.base_url}"

    def refusal(self, path: str, headers: dict[str, str], body: Any) -> Answer | None:
        if not path.startswith(f"/bot{self.token}/"):
            return Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if not isinstance(body, dict) or str(body.get("chat_id")) != self.chat:
            return Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        return None

    def success(self, body: Any) -> Any:
        return {"ok": True, "result": {"message_id": next(self._counter), "chat": {"id": int(self.chat)},
                                       "text": body.get("text", "") if isinstance(body, dict) else ""}}

    @property
    def texts(self) -> list[str]:
        return [r.json.get("text", "") for r in self.requests if isinstance(r.json, dict)]


class WebhookReceiver(_HttpSink):
    """Stands in for kanim's webhook route: answers 200 to everything; `requests[i].raw` is the
    body as sent (a signature is over those bytes, not over re-serialised JSON)."""

    def success(self, body: Any) -> Any:
        return {"ok": True}


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


@dataclass
class _SmtpHandler:
    received: list[Mail] = field(default_factory=list)
    rcpt_replies: deque[str] = field(default_factory=deque)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 2.0.0 Ok: queued"


class _PortZeroController(Controller):
    # aiosmtpd connects to `self.port` to check the server is up; with port 0 that is the port
    # the OS chose, read from the listening socket first.
    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """An SMTP server collecting messages. `refuse_next_recipient("550 5.1.1 …")` answers the
    next RCPT TO with that reply; `credentials` turns on AUTH (plain text: a test on loopback)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self._handler = _SmtpHandler()
        auth = {"authenticator": self._authenticator(credentials), "auth_require_tls": False,
                "auth_required": True} if credentials else {}
        self._controller = _PortZeroController(self._handler, hostname="127.0.0.1", port=0, **auth)

    @staticmethod
    def _authenticator(credentials: tuple[str, str] | None) -> Any:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials
            return AuthResult(success=ok, handled=False)

        return check

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[Mail]:
        return list(self._handler.received)

    def refuse_next_recipient(self, reply: str) -> None:
        self._handler.rcpt_replies.append(reply)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# --- the Cloud API's webhook shapes ------------------------------------------------------------

PHONE_NUMBER_ID = "106540352242922"


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def status(wamid: str, state: str, at: datetime, recipient: str = "6281234567890",
           error_code: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": wamid, "status": state, "timestamp": str(int(at.timestamp())),
                             "recipient_id": recipient}
    if error_code is not None:
        entry["errors"] = [{"code": error_code, "title": "Message failed", "message": "Message failed",
                            "error_data": {"details": "Message failed"}}]
    return entry


def _change(value: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": "6221500000", "phone_number_id": PHONE_NUMBER_ID}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398",
                       "changes": [{"field": "messages",
                                    "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}]}]}


def statuses_payload(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return _change({"statuses": statuses})


def inbound_payload(from_number: str, text: str, at: datetime, name: str = "Siti") -> dict[str, Any]:
    """A text an applicant sent to the office's number."""
    return _change({"contacts": [{"profile": {"name": name}, "wa_id": from_number}],
                    "messages": [{"from": from_number, "id": "wamid.HBgNinbound", "timestamp": str(int(at.timestamp())),
                                  "type": "text", "text": {"body": text}}]})
