"""A local stand-in for the providers behind the notification channels, for drills and benches
on one machine (`kanim demo --scenario outage`, bench/notify.py): nothing leaves 127.0.0.1.

One HTTP server answers both:

- the WhatsApp Cloud API's send, `POST /{version}/{phone id}/messages` with the bearer token:
  answered with a wamid, as Meta does; a number in `not_on_whatsapp` is refused with Meta's
  error 131026 (not on WhatsApp), so the office falls back to SMS;
- an SMSEagle gateway's JSON-RPC send, `POST /jsonrpc/sms` with the access token: answered with
  a message id, as the gateway does;
- the Telegram Bot API's `POST /bot{token}/sendMessage`, for the office's own alerts
  (kanim/notify/alerts.py).

`GET /` is a page of what arrived, newest first (what the demo's applicants and staff would have
read on their phones), refreshed every few seconds; `GET /api/v1/health` answers as a node does.

It keeps what each send carried (channel, recipient, the WhatsApp template's name and
parameters, the SMS text) in memory, and `GET /_sink/received` returns that as JSON for a sink in
another process. It is a stand-in, not a test double with a script (tests/notify_sinks.py has
those): it accepts every well-formed send at once.

The office points its channels at it (`NotifySink.whatsapp_url`, `.sms_url`):

    KANIM_NOTIFY_WHATSAPP_URL=whatsapp://TOKEN@PHONE_ID/?api=http://127.0.0.1:PORT
    KANIM_NOTIFY_SMS_URL=smseagle://TOKEN@127.0.0.1:PORT/
    KANIM_NOTIFY_OFFICE_URL=tgram://BOT_TOKEN/CHAT_ID/?api=http://127.0.0.1:PORT

    python -m kanim.ops.notify_sink --port 0      # prints the port it listens on, serves until killed
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "kanimlocalsinktoken"  # Apprise wants letters and digits only
PHONE_ID = "100000000000001"
BOT_TOKEN = "123456789:kanimlocalsinkbottokenAAAAAAAAAAAA"  # Telegram's shape: the bot's id, a colon, the secret
STAFF_CHAT = "-1000000000001"  # the office staff's group
_WHATSAPP_PATH = re.compile(r"^/v[0-9.]+/([0-9]+)/messages$")


@dataclass(frozen=True)
class Received:
    channel: str  # whatsapp | sms | telegram
    to: str  # as the provider got it: E.164 with "+" (WhatsApp), the digits Apprise sends (SMS)
    template: str | None  # WhatsApp's template name
    params: tuple[str, ...]  # WhatsApp's body parameters, in order
    text: str | None  # the SMS text
    ref: str  # the wamid or gateway message id it was answered with


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        status, answer = self.server.sink.answer(self.path, self.headers.get("Authorization", ""), body)
        self._send(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/_sink/received":
            self._send(200, [asdict(r) for r in self.server.sink.received])
        elif self.path == "/api/v1/health":
            self._send(200, {"status": "ok", "role": "notify-sink"})
        elif self.path == "/":
            self._send(200, inbox_page(self.server.sink.received), content_type="text/html; charset=utf-8")
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the paths name nobody, but say nothing
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a worker's concurrent sends, each on its own connection

    def __init__(self, sink: NotifySink, port: int, host: str = "127.0.0.1") -> None:
        super().__init__((host, port), _Handler)
        self.sink = sink


class NotifySink:
    """The stand-in, serving from a thread of this process while in its `with` block."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", not_on_whatsapp: Iterable[str] = ()) -> None:
        self.not_on_whatsapp = frozenset(not_on_whatsapp)
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = _Server(self, port, host)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True,
                                        name="kanim-notify-sink")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def whatsapp_url(self) -> str:
        return whatsapp_url(self.base_url)

    @property
    def sms_url(self) -> str:
        return f"smseagle://{TOKEN}@127.0.0.1:{self.port}/"

    @property
    def office_url(self) -> str:
        return office_url(self.base_url)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def start(self) -> NotifySink:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> NotifySink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, path: str, authorization: str, body: Any) -> tuple[int, Any]:
        if _WHATSAPP_PATH.match(path):
            return self._whatsapp(authorization, body)
        if path == "/jsonrpc/sms":
            return self._sms(body)
        if path.startswith("/bot") and path.endswith("/sendMessage"):
            return self._telegram(path, body)
        return 404, {"error": "not found"}

    def _telegram(self, path: str, body: Any) -> tuple[int, Any]:
        if path != f"/bot{BOT_TOKEN}/sendMessage":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if not isinstance(body, dict) or "chat_id" not in body:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        ref = str(next(self._ids))
        # Apprise sends in Telegram's HTML mode, escaped: kept as the chat shows it.
        self._keep(Received("telegram", str(body["chat_id"]), None, (), html.unescape(str(body.get("text", ""))), ref))
        return 200, {"ok": True, "result": {"message_id": int(ref), "chat": {"id": body["chat_id"]}}}

    def _whatsapp(self, authorization: str, body: Any) -> tuple[int, Any]:
        if authorization != f"Bearer {TOKEN}":
            return _graph_error(401, 190, "Error validating access token")
        if not isinstance(body, dict) or not isinstance(body.get("to"), str) or body.get("type") != "template":
            return _graph_error(400, 100, "Invalid parameter")
        to = body["to"]
        if to in self.not_on_whatsapp:
            return _graph_error(400, 131026, "Message undeliverable")
        template = body.get("template") or {}
        components = template.get("components") or [{}]
        params = tuple(p.get("text", "") for p in components[0].get("parameters", []))
        ref = f"wamid.kanim-sink-{next(self._ids):08d}"
        self._keep(Received("whatsapp", to, template.get("name"), params, None, ref))
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                     "messages": [{"id": ref, "message_status": "accepted"}]}

    def _sms(self, body: Any) -> tuple[int, Any]:
        params = body.get("params") if isinstance(body, dict) else None
        if not isinstance(params, dict) or params.get("access_token") != TOKEN:
            return 200, {"result": {"error_text": "Invalid login or password", "status": "error"}}
        ref = str(next(self._ids))
        self._keep(Received("sms", str(params.get("to", "")), None, (), str(params.get("message", "")), ref))
        return 200, {"result": {"message_id": ref, "status": "ok"}}

    def _keep(self, r: Received) -> None:
        with self._lock:
            self._received.append(r)


def key(r: Received) -> tuple:
    """What identifies one message as it arrived: a copy of it has the same key."""
    if r.channel == "whatsapp":
        return ("whatsapp", _digits(r.to), r.template, r.params)
    return (r.channel, _digits(r.to), r.text)


def expected_key(channel: str, address: str, rendered: Any) -> tuple:
    """The key of a message kanim rendered (kanim.notify.render.Rendered) and sent to `address`."""
    if channel == "whatsapp":
        return ("whatsapp", _digits(address), rendered.whatsapp_template, tuple(rendered.whatsapp_params))
    return (channel if channel == "telegram" else "sms", _digits(address), rendered.text)


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _graph_error(status: int, code: int, title: str) -> tuple[int, Any]:
    return status, {"error": {"message": f"(#{code}) {title}", "type": "OAuthException", "code": code,
                              "fbtrace_id": "kanim-local-sink"}}


def whatsapp_url(base_url: str) -> str:
    return f"whatsapp://{TOKEN}@{PHONE_ID}/?api={base_url}"


def sms_url(base_url: str) -> str:
    split = base_url.split("://", 1)[-1]
    return f"smseagle://{TOKEN}@{split}/"


def telegram_url(base_url: str) -> str:
    """The applicants' bot: no chat in the URL, each message names the applicant's."""
    return f"tgram://{BOT_TOKEN}/?api={base_url}"


def office_url(base_url: str) -> str:
    return f"tgram://{BOT_TOKEN}/{STAFF_CHAT}/?api={base_url}"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5"><title>kanim demo: messages received</title>
<style>
body{{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:52rem;padding:1rem;color:#1b1f23;background:#f6f7f9}}
h1{{font-size:1.3rem}} p.note{{color:#4a5560}} ol{{list-style:none;padding:0}}
li{{background:#fff;border:1px solid #d5dae0;border-radius:.5rem;padding:.6rem .8rem;margin:.5rem 0}}
.ch{{font-weight:600;margin-right:.5rem}} .to{{font-family:monospace;color:#4a5560}}
.whatsapp .ch{{color:#0b7a3e}} .sms .ch{{color:#1d4ed8}} .telegram .ch{{color:#6b21a8}}
pre{{white-space:pre-wrap;margin:.3rem 0 0;font:inherit}} code{{font-size:.9em}}
</style></head><body>
<h1>Messages received by the demo's stand-in providers</h1>
<p class="note">What kanim's notification worker sent: WhatsApp templates and SMS to applicants, Telegram alerts to the
office's staff. Nothing left this machine: this page is a local stand-in for the WhatsApp Cloud API, an SMS gateway and
the Telegram Bot API. {count} message(s), newest first; the page refreshes every 5 seconds.</p>
<ol>{items}</ol></body></html>"""


def inbox_page(received: list[Received]) -> str:
    """What arrived, newest first, as a plain page (no script, no external asset)."""
    items = []
    for r in reversed(received[-500:]):
        if r.channel == "whatsapp":
            params = ", ".join(html.escape(p) for p in r.params)
            body = f"<pre>template <code>{html.escape(r.template or '')}</code>: {params}</pre>"
        else:
            body = f"<pre>{html.escape(r.text or '')}</pre>"
        items.append(f'<li class="{html.escape(r.channel)}"><span class="ch">{html.escape(r.channel)}</span>'
                     f'<span class="to">to {html.escape(r.to)}</span>{body}</li>')
    return _PAGE.format(count=len(received), items="".join(items) or "<li>Nothing yet.</li>")


def fetch_received(base_url: str) -> list[Received]:
    """What a sink in another process has received."""
    import httpx

    rows = httpx.get(f"{base_url}/_sink/received", timeout=60).json()
    return [Received(r["channel"], r["to"], r["template"], tuple(r["params"]), r["text"], r["ref"]) for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local WhatsApp Cloud API, SMSEagle and Telegram Bot API stand-in.")
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed on stdout")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    with NotifySink(port=args.port, host=args.host) as sink:
        print(sink.port, flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
