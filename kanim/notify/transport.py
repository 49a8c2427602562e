"""One message to one applicant on one channel, sent through Apprise, its outcome classified so
the worker knows whether a retry can help (temporary), the address is no good on this channel
(permanent: fall back to the next one), or the office's own setup is wrong (technical).

The office configures one Apprise URL per channel (suggested settings in brackets):

- WhatsApp [KANIM_NOTIFY_WHATSAPP_URL]: the Cloud API, `whatsapp://TOKEN@FROM_PHONE_ID/`. Every
  message goes as an approved template (name, language, body parameters from `rendered`): the
  office writes first, nearly always outside the 24-hour window in which free text is allowed.
  `?api=https://wa-proxy.lan/graph` sends to that base instead of `https://graph.facebook.com`
  (an on-premises proxy, a BSP's Cloud API endpoint, a local stand-in in drills and tests): the
  path `/{version}/{phone id}/messages` is appended to it. Apprise has no such option (its
  plugin's endpoint is the class attribute `NotifyWhatsApp.notify_url`), so kanim sets it on
  each plugin instance it builds; another process's transport cannot be monkeypatched.
- SMS [KANIM_NOTIFY_SMS_URL]: an SMSEagle hardware gateway on the office LAN,
  `smseagles://TOKEN@gateway.lan/` (`smseagle://` for plain HTTP). It needs no internet, which an
  office that keeps working through an outage values most, and its host is the office's own;
  Apprise's generic `json://` would work too but gives no message id and no error vocabulary.
- Email [KANIM_NOTIFY_EMAIL_URL]: the office's SMTP server,
  `mailtos://USER:PASSWORD@mail.kanim.example:587/?from=noreply@kanim.example`.
- Telegram [KANIM_NOTIFY_TELEGRAM_URL]: the office's bot, `tgram://BOT_TOKEN/` with no chat: each
  message names the applicant's chat (learnt from their Start, kanim/office/telegram.py).
  `?api=` sends to a Bot API proxy or a local stand-in instead of `https://api.telegram.org`.

Apprise reports acceptance, never delivery, and hands back neither the HTTP status, the
response body (the WhatsApp wamid needed to match delivery webhooks) nor the SMTP reply code:
its plugins catch and log them. Rather than parse log text, kanim puts a small tap on the names
the plugins call (`requests` in the WhatsApp and SMSEagle plugin modules, `smtplib` in the SMTP
controller, `make_msgid` and `convert_between` in the email builder). Each tap passes straight
through unless a kanim send is in progress in the current context (a `ContextVar`, so concurrent
sends in threads never mix; Apprise copies the context into its worker threads), and then it
also notes what the plugin saw in that send's `_Trace`. A subclass of a plugin could not do this:
`NotifyWhatsApp.send` is one long method calling the module's `requests.post`, and the email
plugin builds its message through `NotifyEmail.prepare_emails` by class name. The taps check on
install that the names still exist, so an Apprise upgrade that moves them fails loudly.

Apprise logs recipients, payloads and tokens (`Sent WhatsApp notification to +62…` at INFO): a
filter on its logger drops everything below ERROR and withholds the message of the rest.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import smtplib
import socket
import ssl
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from apprise import Apprise, AppriseAsset, NotifyFormat
from apprise.exception import AppriseException
from apprise.plugins import url_to_dict
from apprise.plugins import smseagle as smseagle_plugin
from apprise.plugins import telegram as telegram_plugin
from apprise.plugins import whatsapp as whatsapp_plugin
from apprise.plugins.email import base as email_plugin
from apprise.plugins.email import smtp as smtp_controller
from apprise.result import AppriseResultStatus

from kanim.domain.contact import Channel
from kanim.logs import WITHHELD

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the channel took it (not yet delivered: a receipt may say so later)
    TEMPORARY = "temporary"  # retry later: rate limit, outage, timeout
    PERMANENT = "permanent"  # this address cannot get it on this channel: fall back
    TECHNICAL = "technical"  # the office's setup is wrong (token, template, sender): fall back, alert


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_ref: str | None  # the WhatsApp wamid, the gateway's message id, the email's Message-ID
    reason: str  # short and machine-ish ("http-429", "smtp-550"): never contact data or text


class Rendered(Protocol):
    """What the transport reads of `kanim.notify.render.Rendered`."""

    @property
    def subject(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def whatsapp_template(self) -> str | None: ...
    @property
    def whatsapp_language(self) -> str | None: ...
    @property
    def whatsapp_params(self) -> tuple[str, ...]: ...


class Transport(Protocol):
    def send(self, channel: Channel, address: str, rendered: Rendered, *, message_id: str) -> SendResult: ...


def accepted(ref: str | None) -> SendResult:
    return SendResult(Outcome.ACCEPTED, ref, "accepted" if ref else "accepted-without-ref")


def failed(outcome: Outcome, reason: str) -> SendResult:
    return SendResult(outcome, None, reason)


# --- what Apprise does not hand back: the taps -------------------------------------------------


@dataclass
class _Trace:
    """What one send learned from inside Apprise's plugin, filled in by the taps."""

    message_id_header: str | None = None  # the email's Message-ID, stable per kanim message
    text_part: str | None = None  # the email's own plain-text part (Apprise would derive one)
    http_status: int | None = None
    http_json: Any = None
    failure: BaseException | None = None  # what the plugin caught; kept in memory, never logged


_TRACE: ContextVar[_Trace | None] = ContextVar("kanim_notify_trace", default=None)


class _ModuleTap:
    """Stands in for a module inside one Apprise plugin module: the real module's attributes,
    with a few replaced."""

    def __init__(self, real: Any, **replaced: Any) -> None:
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_SESSIONS = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per sending thread: a backlog of thousands of messages to one
    provider reuses its connections (and TLS sessions) instead of opening one per message.
    Per thread, because a `requests.Session` is not safe to share between threads."""
    session = getattr(_SESSIONS, "session", None)
    if session is None:
        session = _SESSIONS.session = requests.Session()
        session.trust_env = False  # proxies as Apprise gives them, not from the environment per call
    return session


def _traced_post(*args: Any, **kwargs: Any) -> requests.Response:
    trace = _TRACE.get()
    try:
        # Only kanim's own sends (a trace is set) take the kept-alive session; anything else
        # calling the plugin goes through plain `requests.post`, as Apprise meant.
        response = (_session().post if trace is not None else requests.post)(*args, **kwargs)
    except requests.RequestException as exc:
        if trace is not None:
            trace.failure = exc
        raise
    if trace is not None:
        trace.http_status = response.status_code
        try:
            trace.http_json = response.json()
        except ValueError:  # not JSON: the status alone says what happened
            trace.http_json = None
    return response


def _noting_failure(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if (trace := _TRACE.get()) is not None:
                trace.failure = exc
            raise

    return noted


class _TracedSMTP(smtplib.SMTP):
    __init__ = _noting_failure(smtplib.SMTP.__init__)  # connect and greeting
    starttls = _noting_failure(smtplib.SMTP.starttls)
    login = _noting_failure(smtplib.SMTP.login)
    sendmail = _noting_failure(smtplib.SMTP.sendmail)


class _TracedSMTPSSL(smtplib.SMTP_SSL):
    __init__ = _noting_failure(smtplib.SMTP_SSL.__init__)
    login = _noting_failure(smtplib.SMTP_SSL.login)
    sendmail = _noting_failure(smtplib.SMTP_SSL.sendmail)


def _stable_msgid(original: Callable[..., str]) -> Callable[..., str]:
    # Apprise adds its own random Message-ID after any custom headers (`+Message-ID=` would give
    # a message two), so the id is supplied where Apprise makes it.
    def make_msgid(*args: Any, **kwargs: Any) -> str:
        trace = _TRACE.get()
        return trace.message_id_header if trace and trace.message_id_header else original(*args, **kwargs)

    return make_msgid


def _own_text_part(original: Callable[..., str]) -> Callable[..., str]:
    # Apprise derives the plain part of an HTML email from the HTML; the template's own text
    # part (written for plain text: links spelt out) is the better one.
    def convert_between(from_format: Any, to_format: Any, content: str, *args: Any, **kwargs: Any) -> str:
        trace = _TRACE.get()
        if trace and trace.text_part is not None and (from_format, to_format) == (NotifyFormat.HTML, NotifyFormat.TEXT):
            return trace.text_part
        return original(from_format, to_format, content, *args, **kwargs)

    return convert_between


def _tap(module: Any, name: str, make: Callable[[Any], Any]) -> None:
    current = getattr(module, name, None)
    if current is None:
        raise RuntimeError(f"Apprise changed: {module.__name__}.{name} is gone, kanim's tap cannot apply")
    if not getattr(current, "_kanim_tap", False):
        tapped = make(current)
        tapped._kanim_tap = True
        setattr(module, name, tapped)


def _install_taps() -> None:
    for plugin in (whatsapp_plugin, smseagle_plugin, telegram_plugin):
        _tap(plugin, "requests", lambda real: _ModuleTap(real, post=_traced_post))
    _tap(smtp_controller, "smtplib", lambda real: _ModuleTap(real, SMTP=_TracedSMTP, SMTP_SSL=_TracedSMTPSSL))
    _tap(email_plugin, "make_msgid", _stable_msgid)
    _tap(email_plugin, "convert_between", _own_text_part)


class _WithholdAppriseRecords(logging.Filter):
    """Apprise's messages name recipients and echo payloads; kanim logs each send's outcome
    itself, so Apprise's chatter is dropped and only the fact of an error is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return False
        record.msg, record.args, record.exc_info, record.exc_text = f"apprise: {WITHHELD}", (), None, None
        return True


def _silence_apprise() -> None:
    apprise_log = logging.getLogger("apprise")
    if not any(isinstance(f, _WithholdAppriseRecords) for f in apprise_log.filters):
        apprise_log.addFilter(_WithholdAppriseRecords())


_install_taps()
_silence_apprise()


# --- classifying what happened -----------------------------------------------------------------


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is anywhere in the chain requests and urllib3 wrap a socket error in."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        e = pending.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        if isinstance(e, kind):
            return True
        seen.add(id(e))
        pending += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
    return False


def _network_failure(exc: BaseException) -> SendResult:
    if _caused_by(exc, ssl.SSLError):  # a certificate the office must fix, not a flaky link
        return failed(Outcome.TECHNICAL, "tls-error")
    if isinstance(exc, requests.Timeout) or _caused_by(exc, socket.timeout):
        return failed(Outcome.TEMPORARY, "timeout")
    if _caused_by(exc, ConnectionRefusedError):
        return failed(Outcome.TEMPORARY, "connection-refused")
    return failed(Outcome.TEMPORARY, "connection-error")


def _by_http_status(status: int) -> SendResult:
    if status == 429 or status >= 500:
        return failed(Outcome.TEMPORARY, f"http-{status}")
    # 401/403 are the office's token; any other refusal is a request kanim built wrong for
    # this setup: neither is the applicant's address, and a retry would be refused again.
    return failed(Outcome.TECHNICAL, f"http-{status}")


def _without_exchange(trace: _Trace, status: AppriseResultStatus) -> SendResult:
    if trace.failure is not None:
        return _network_failure(trace.failure)
    if status is AppriseResultStatus.TIMEOUT:  # Apprise's own deadline, the backstop
        return failed(Outcome.TEMPORARY, "timeout")
    return failed(Outcome.TECHNICAL, "apprise-failed")  # refused before any request went out


# WhatsApp Cloud API error codes (developers.facebook.com/documentation/business-messaging/
# whatsapp/support/error-codes), each with what it means for this message.
_WHATSAPP_CODES: dict[int, tuple[Outcome, str]] = {
    # The applicant cannot get it on WhatsApp: fall back to SMS or email.
    131026: (Outcome.PERMANENT, "undeliverable"),  # not on WhatsApp, old app, terms not accepted
    131047: (Outcome.PERMANENT, "outside-24h"),  # re-engagement: free text outside the window
    131051: (Outcome.PERMANENT, "unsupported-type"),  # the recipient's app cannot show this type
    131050: (Outcome.PERMANENT, "opted-out"),  # the user stopped this business's marketing messages
    # Later may work.
    4: (Outcome.TEMPORARY, "rate-limit"),  # the app's call limit
    80007: (Outcome.TEMPORARY, "rate-limit"),  # the WhatsApp Business Account's limit
    130429: (Outcome.TEMPORARY, "rate-limit"),  # Cloud API throughput
    131048: (Outcome.TEMPORARY, "spam-rate-limit"),  # too many blocked or reported messages
    131056: (Outcome.TEMPORARY, "pair-rate-limit"),  # too many to this one number in a short time
    131049: (Outcome.TEMPORARY, "ecosystem-limit"),  # Meta chose not to deliver for now
    1: (Outcome.TEMPORARY, "unknown-api-error"),
    2: (Outcome.TEMPORARY, "service-unavailable"),
    131000: (Outcome.TEMPORARY, "something-went-wrong"),
    131016: (Outcome.TEMPORARY, "service-unavailable"),
    131057: (Outcome.TEMPORARY, "maintenance"),  # the business account is in maintenance mode
    # The office's setup: token, permissions, account, template.
    0: (Outcome.TECHNICAL, "auth"),  # AuthException: the token cannot be used
    190: (Outcome.TECHNICAL, "bad-token"),  # invalid or expired access token
    10: (Outcome.TECHNICAL, "permission-denied"),
    131005: (Outcome.TECHNICAL, "access-denied"),
    100: (Outcome.TECHNICAL, "invalid-parameter"),
    131008: (Outcome.TECHNICAL, "param-missing"),
    131009: (Outcome.TECHNICAL, "param-invalid"),
    131030: (Outcome.TECHNICAL, "not-in-allowed-list"),  # a test number's recipient list
    131031: (Outcome.TECHNICAL, "account-locked"),
    131042: (Outcome.TECHNICAL, "payment-issue"),
    368: (Outcome.TECHNICAL, "policy-block"),  # temporarily blocked for policy violations
    132000: (Outcome.TECHNICAL, "template-param-count"),
    132001: (Outcome.TECHNICAL, "unknown-template"),  # no such name, or not in this language
    132005: (Outcome.TECHNICAL, "template-too-long"),
    132007: (Outcome.TECHNICAL, "template-policy"),
    132012: (Outcome.TECHNICAL, "template-param-format"),
    132015: (Outcome.TECHNICAL, "template-paused"),
    132016: (Outcome.TECHNICAL, "template-disabled"),
    133010: (Outcome.TECHNICAL, "phone-not-registered"),  # the office's sender number
}


def _graph_error_code(body: Any) -> int | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _wamid(body: Any) -> str | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    ref = first.get("id") if isinstance(first, dict) else None
    return ref if isinstance(ref, str) and ref else None


def _smseagle_result(body: Any) -> dict[str, Any]:
    result = body.get("result") if isinstance(body, dict) else None
    if isinstance(result, list):  # one entry per recipient: kanim sends to one
        result = result[0] if result else None
    return result if isinstance(result, dict) else {}


_SMTP_AUTH_CODES = {530, 534, 535, 538}  # authentication required / failed: the office's account


def _smtp_failure(exc: BaseException) -> SendResult:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()] or [550]
        return _smtp_code(codes[0], permanent=Outcome.PERMANENT)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return failed(Outcome.TECHNICAL, f"smtp-{exc.smtp_code}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):  # no STARTTLS or AUTH where the URL wants it
        return failed(Outcome.TECHNICAL, "smtp-not-supported")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return failed(Outcome.TEMPORARY, "smtp-disconnected")
    if isinstance(exc, smtplib.SMTPDataError):  # the message itself refused for this recipient
        return _smtp_code(exc.smtp_code, permanent=Outcome.PERMANENT)
    if isinstance(exc, smtplib.SMTPResponseException):  # greeting, HELO, MAIL FROM: the server refuses the office
        return _smtp_code(exc.smtp_code, permanent=Outcome.TECHNICAL)
    return _network_failure(exc)


def _smtp_code(code: int, *, permanent: Outcome) -> SendResult:
    if 400 <= code < 500:
        return failed(Outcome.TEMPORARY, f"smtp-{code}")
    return failed(Outcome.TECHNICAL if code in _SMTP_AUTH_CODES else permanent, f"smtp-{code}")


# --- the channels ------------------------------------------------------------------------------


class _Driver(ABC):
    """How kanim drives one Apprise plugin: what it adds to the office's URL for one message,
    and what the trace of the send means."""

    schemas: tuple[str, ...] = ()

    def refusal(self, rendered: Rendered) -> SendResult | None:
        return None if rendered.text else failed(Outcome.TECHNICAL, "empty-text")

    def trace(self, rendered: Rendered, message_id: str, plugin: Any) -> _Trace:
        return _Trace()

    def arguments(self, address: str, rendered: Rendered) -> dict[str, Any]:
        return {"targets": [address]}

    def has_target(self, plugin: Any) -> bool:
        return len(plugin.targets) == 1

    def body(self, rendered: Rendered) -> dict[str, Any]:
        return {"body": rendered.text, "body_format": NotifyFormat.TEXT}

    @abstractmethod
    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        """The outcome, from what the trace saw of the service's answer and Apprise's verdict."""


class _WhatsApp(_Driver):
    schemas = ("whatsapp",)

    def refusal(self, rendered: Rendered) -> SendResult | None:
        # Never free text: outside the 24-hour window it is refused (131047), and the office
        # nearly always writes first.
        if not (rendered.whatsapp_template and rendered.whatsapp_language):
            return failed(Outcome.TECHNICAL, "whatsapp-no-template")
        return None

    def arguments(self, address: str, rendered: Rendered) -> dict[str, Any]:
        # Apprise's `?template=…&lang=…&:1=value` as constructor arguments: parameters may hold
        # any text, so they do not go through URL quoting.
        params = {str(i): value for i, value in enumerate(rendered.whatsapp_params, start=1)}
        return {"template": rendered.whatsapp_template, "language": rendered.whatsapp_language,
                "template_mapping": params, "targets": [address]}

    def has_target(self, plugin: Any) -> bool:
        # One E.164 number: Apprise splits a string on separators and takes 16+ digits as a group.
        return len(plugin.targets) == 1 and plugin.targets[0].startswith("+")

    def body(self, rendered: Rendered) -> dict[str, Any]:
        # Apprise wants a body; in template mode the plugin sends only the parameters.
        return {"body": rendered.text or rendered.whatsapp_template, "body_format": NotifyFormat.TEXT}

    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        if trace.http_status is None or trace.failure is not None:
            return _without_exchange(trace, status)
        if 200 <= trace.http_status < 300 and status is AppriseResultStatus.SUCCESS:
            return accepted(_wamid(trace.http_json))
        code = _graph_error_code(trace.http_json)
        if code is None:
            return _by_http_status(trace.http_status)
        if code in _WHATSAPP_CODES:
            outcome, slug = _WHATSAPP_CODES[code]
            return failed(outcome, f"whatsapp-{code}-{slug}")
        if 200 <= code <= 299:  # Graph API permission errors
            return failed(Outcome.TECHNICAL, f"whatsapp-{code}-permission")
        return failed(_by_http_status(trace.http_status).outcome, f"whatsapp-{code}")


class _SMSEagle(_Driver):
    schemas = ("smseagle", "smseagles")

    def arguments(self, address: str, rendered: Rendered) -> dict[str, Any]:
        # `status` would prefix the text with Apprise's notice type; `batch` is for many numbers.
        return {"targets": [address], "status": False, "batch": False}

    def has_target(self, plugin: Any) -> bool:
        return len(plugin.target_phones) == 1 and not (plugin.target_groups or plugin.target_contacts)

    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        if trace.http_status is None or trace.failure is not None:
            return _without_exchange(trace, status)
        if not 200 <= trace.http_status < 300:
            return _by_http_status(trace.http_status)
        result = _smseagle_result(trace.http_json)
        if result.get("status") == "ok" and status is AppriseResultStatus.SUCCESS:
            ref = result.get("message_id")
            return accepted(str(ref) if ref is not None else None)
        # SMSEagle answers 200 with {"status": "error", "error_text": …}. A bad number is not
        # among its errors: the modem queues whatever it is given and fails later.
        text = str(result.get("error_text", "")).lower()
        if any(word in text for word in ("login", "password", "token", "access")):
            return failed(Outcome.TECHNICAL, "smseagle-auth")
        return failed(Outcome.TECHNICAL, "smseagle-refused")


class _Email(_Driver):
    schemas = ("mailto", "mailtos")

    def refusal(self, rendered: Rendered) -> SendResult | None:
        return None if (rendered.text or rendered.html) else failed(Outcome.TECHNICAL, "email-empty")

    def has_target(self, plugin: Any) -> bool:
        return len(plugin.targets) == 1  # an invalid address is dropped, not replaced by the sender

    def trace(self, rendered: Rendered, message_id: str, plugin: Any) -> _Trace:
        # The same kanim message always has the same Message-ID, so a resend after a crash
        # (sent, then died before recording it) is one message to mail clients that de-duplicate.
        domain = plugin.from_addr[1].rpartition("@")[2] or "kanim.invalid"
        local = re.sub(r"[^A-Za-z0-9._-]", "-", message_id)
        return _Trace(message_id_header=f"<kanim.{local}@{domain}>", text_part=rendered.text if rendered.html else None)

    def body(self, rendered: Rendered) -> dict[str, Any]:
        if rendered.html:
            return {"body": rendered.html, "title": rendered.subject or "", "body_format": NotifyFormat.HTML}
        return {"body": rendered.text, "title": rendered.subject or "", "body_format": NotifyFormat.TEXT}

    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        if status is AppriseResultStatus.SUCCESS:
            return SendResult(Outcome.ACCEPTED, trace.message_id_header, "accepted")
        if trace.failure is not None:
            return _smtp_failure(trace.failure)
        return _without_exchange(trace, status)


class _Telegram(_Driver):
    """An applicant's chat with the office's bot: the office's `tgram://BOT_TOKEN/` URL with the
    chat's id as its one target. The Bot API answers every call with `{"ok": …}`: a refusal's
    `description` tells an applicant who blocked the bot or left (fall back) from a token or a
    message the office got wrong."""

    schemas = ("tgram",)

    def arguments(self, address: str, rendered: Rendered) -> dict[str, Any]:
        # Never Apprise's image, nor its owner detection (getUpdates), which would steal the
        # updates the office's webhook is to receive.
        return {"targets": [address], "include_image": False, "detect_owner": False}

    def has_target(self, plugin: Any) -> bool:
        return len(plugin.targets) == 1 and str(plugin.targets[0][0]).lstrip("-").isdigit()

    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        if trace.http_status is None or trace.failure is not None:
            return _without_exchange(trace, status)
        body = trace.http_json if isinstance(trace.http_json, dict) else {}
        if 200 <= trace.http_status < 300 and body.get("ok") is True and status is AppriseResultStatus.SUCCESS:
            result = body.get("result")
            ref = result.get("message_id") if isinstance(result, dict) else None
            return accepted(str(ref) if isinstance(ref, int) else None)
        text = str(body.get("description", "")).lower()
        if trace.http_status == 403 or (trace.http_status == 400 and "chat not found" in text):
            # blocked by the user, the account deleted, a chat that is no more: this applicant
            # cannot be reached here any longer
            return failed(Outcome.PERMANENT, f"telegram-{trace.http_status}")
        if trace.http_status in (401, 404):  # the bot's token (Telegram answers 404 for an unknown one)
            return failed(Outcome.TECHNICAL, f"telegram-{trace.http_status}-token")
        return _by_http_status(trace.http_status)


class _Office(_Driver):
    """The office's own alert URL: any Apprise URL (a Telegram group, a staff mailbox). Telegram's
    and the HTTP plugins' answers are traced; for the rest Apprise's verdict is what there is."""

    def has_target(self, plugin: Any) -> bool:
        return True  # the URL names its own recipients (the chat, the mailbox)

    def arguments(self, address: str, rendered: Rendered) -> dict[str, Any]:
        return {}

    def body(self, rendered: Rendered) -> dict[str, Any]:
        return {"body": rendered.text, "title": rendered.subject or "", "body_format": NotifyFormat.TEXT}

    def classify(self, trace: _Trace, status: AppriseResultStatus) -> SendResult:
        if status is AppriseResultStatus.SUCCESS:
            return accepted(None)
        if trace.failure is not None:
            if isinstance(trace.failure, smtplib.SMTPException):
                return _smtp_failure(trace.failure)
            return _network_failure(trace.failure)
        if trace.http_status is not None:
            return _by_http_status(trace.http_status)
        return _without_exchange(trace, status)


@dataclass(frozen=True)
class OfficeText:
    """An alert to the office's staff, as the transport carries it."""

    subject: str | None
    text: str
    html: str | None = None
    whatsapp_template: str | None = None
    whatsapp_language: str | None = None
    whatsapp_params: tuple[str, ...] = ()


_OFFICE = _Office()

_DRIVERS: dict[Channel, _Driver] = {Channel.WHATSAPP: _WhatsApp(), Channel.SMS: _SMSEagle(), Channel.EMAIL: _Email(),
                                    Channel.TELEGRAM: _Telegram()}


# --- the transport -----------------------------------------------------------------------------


class AppriseTransport:
    """Sends through the Apprise URLs the office configured, one per channel.

    `timeout` bounds each connect and each read (and an SMTP session's every reply); Apprise's
    own deadline at twice that plus a second is a backstop for a server that drips bytes.
    Apprise never retries here: the worker owns retries, with its backoff and caps."""

    def __init__(self, urls: Mapping[Channel, str], *, office_url: str | None = None,
                 social_urls: list[str] | None = None, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._asset = AppriseAsset()
        self._parsed = {Channel(channel): _parse(Channel(channel), url) for channel, url in urls.items() if url}
        self._endpoints = {c: e for c, parsed in self._parsed.items() if (e := _endpoint(c, parsed)) is not None}
        self._office = _parse_office(office_url) if office_url else None
        self._office_endpoint = _office_endpoint(self._office) if self._office else None
        # The office's social channels (docs/public.md): parsed like the office URL, sent the same way.
        self._social = [_parse_social(n, u) for n, u in enumerate(social_urls or [])]

    @property
    def office_configured(self) -> bool:
        return self._office is not None

    def send_office(self, title: str, body: str, *, message_id: str) -> SendResult:
        """An alert to the office's own staff through its office URL."""
        if self._office is None:
            return failed(Outcome.TECHNICAL, "not-configured")
        return self._send_to(self._office, self._office_endpoint, title, body, message_id)

    def send_social(self, n: int, title: str, body: str, *, message_id: str) -> SendResult:
        """A post to the office's n-th social channel (`KANIM_STATUS_SOCIAL_URLS`)."""
        if not 0 <= n < len(self._social):
            return failed(Outcome.TECHNICAL, "not-configured")
        parsed, endpoint = self._social[n]
        return self._send_to(parsed, endpoint, title, body, message_id)

    def _send_to(self, parsed: dict[str, Any], endpoint: str | None, title: str, body: str,
                 message_id: str) -> SendResult:
        settings = {**copy.deepcopy(parsed), "rto": self._timeout, "cto": self._timeout, "retry": 0,
                    "optional": False, "store": False}
        try:
            plugin = Apprise.instantiate(settings, asset=self._asset, suppress_exceptions=False)
        except (AppriseException, TypeError, ValueError):
            plugin = None
        if plugin is None:
            return failed(Outcome.TECHNICAL, "apprise-refused-arguments")
        if endpoint is not None:
            plugin.notify_url = endpoint
        trace = _Trace()
        result = _OFFICE.classify(trace, self._notify(plugin, _OFFICE.body(OfficeText(title, body)), trace))
        log.info("office alert %s: %s (%s)", message_id, result.outcome, result.reason)
        return result

    def send(self, channel: Channel, address: str, rendered: Rendered, *, message_id: str) -> SendResult:
        result = self._send(Channel(channel), address, rendered, message_id)
        log.info("notify %s via %s: %s (%s)", message_id, channel, result.outcome, result.reason)
        return result

    def _send(self, channel: Channel, address: str, rendered: Rendered, message_id: str) -> SendResult:
        if channel not in self._parsed:
            return failed(Outcome.TECHNICAL, "not-configured")
        driver = _DRIVERS[channel]
        if (refusal := driver.refusal(rendered)) is not None:
            return refusal
        plugin = self._plugin(channel, driver.arguments(address, rendered))
        if plugin is None:
            return failed(Outcome.TECHNICAL, "apprise-refused-arguments")
        if not driver.has_target(plugin):
            return failed(Outcome.PERMANENT, "invalid-address")
        trace = driver.trace(rendered, message_id, plugin)
        return driver.classify(trace, self._notify(plugin, driver.body(rendered), trace))

    def _plugin(self, channel: Channel, arguments: dict[str, Any]) -> Any:
        settings = {**copy.deepcopy(self._parsed[channel]), **arguments, "rto": self._timeout,
                    "cto": self._timeout, "retry": 0, "optional": False, "store": False}
        try:
            plugin = Apprise.instantiate(settings, asset=self._asset, suppress_exceptions=False)
        except (AppriseException, TypeError, ValueError):  # their messages quote the arguments
            return None
        if plugin is not None and channel in self._endpoints:
            plugin.notify_url = self._endpoints[channel]  # this instance only: the class keeps Meta's
        return plugin

    def _notify(self, plugin: Any, body: dict[str, Any], trace: _Trace) -> AppriseResultStatus:
        apprise = Apprise(asset=self._asset)
        apprise.add(plugin)
        token = _TRACE.set(trace)
        try:
            result = apprise.notify(**body, timeout=2 * self._timeout + 1)
        finally:
            _TRACE.reset(token)
        statuses = [service.status for service in result]
        return statuses[0] if statuses else result.status


def _endpoint(channel: Channel, parsed: dict[str, Any]) -> str | None:
    """The WhatsApp plugin's `notify_url` for the URL's `?api=` base, or None for Meta's own.
    Taken out of the arguments, so Apprise never sees a key it does not know."""
    base = parsed.get("qsd", {}).pop("api", None)
    if base is None:
        return None
    if channel is Channel.TELEGRAM:
        return _office_endpoint({"qsd": {"api": base}}, what="the telegram notification URL")
    if channel is not Channel.WHATSAPP:
        raise ValueError(f"the {channel.value} notification URL takes no api= argument (WhatsApp's and Telegram's do)")
    split = urlsplit(base)
    plain = not (split.query or split.fragment or "{" in base or "}" in base)  # `}` would break format()
    if split.scheme not in ("http", "https") or not split.hostname or not plain:
        raise ValueError("the whatsapp notification URL's api= must be an http(s) base URL without query or "
                         "fragment (api=https://wa-proxy.lan/graph)")
    return base.rstrip("/") + "/{fb_ver}/{phone_id}/messages"


def _parse_office(url: str) -> dict[str, Any]:
    """The office's alert URL: any Apprise URL, checked once at start-up (never quoted: it holds
    the bot's token)."""
    parsed = url_to_dict(url)
    if not parsed:
        raise ValueError("the office alert URL is not an Apprise URL (a Telegram group: tgram://BOT_TOKEN/CHAT_ID)")
    api = parsed.get("qsd", {}).get("api")
    probe = copy.deepcopy(parsed)
    probe.get("qsd", {}).pop("api", None)
    try:
        Apprise.instantiate(probe, suppress_exceptions=False)
    except (AppriseException, TypeError, ValueError):
        raise ValueError("the office alert URL is not a valid Apprise URL") from None
    if api is not None and parsed.get("schema") not in ("tgram",):
        raise ValueError("the office alert URL takes api= only for tgram:// (a Telegram Bot API proxy)")
    return parsed


def _parse_social(n: int, url: str) -> tuple[dict[str, Any], str | None]:
    """One of the office's social channels, checked as the office URL is (never quoted)."""
    try:
        parsed = _parse_office(url)
        return parsed, _office_endpoint(parsed)
    except ValueError as e:
        raise ValueError(f"KANIM_STATUS_SOCIAL_URLS, URL {n + 1}: {str(e).replace('office alert URL', 'URL')}") from None


def _office_endpoint(parsed: dict[str, Any], what: str = "the office alert URL") -> str | None:
    """Telegram's `notify_url` for the URL's `?api=` base (a Bot API proxy, a local stand-in),
    or None for api.telegram.org."""
    base = parsed.get("qsd", {}).pop("api", None)
    if base is None:
        return None
    split = urlsplit(base)
    if split.scheme not in ("http", "https") or not split.hostname or split.query or split.fragment:
        raise ValueError(f"{what}'s api= must be an http(s) base URL without query or fragment")
    return base.rstrip("/") + "/bot"


def _parse(channel: Channel, url: str) -> dict[str, Any]:
    """The configured URL as Apprise's constructor arguments, checked once at start-up. Errors
    name the channel and the schemas it takes, never the URL (it holds the token)."""
    driver = _DRIVERS[channel]
    wanted = " or ".join(f"{s}://" for s in driver.schemas)
    parsed = url_to_dict(url)
    if not parsed or parsed.get("schema") not in driver.schemas:
        raise ValueError(f"the {channel.value} notification URL must be an Apprise {wanted} URL")
    try:
        Apprise.instantiate(copy.deepcopy(parsed), suppress_exceptions=False)
    except (AppriseException, TypeError, ValueError):
        raise ValueError(f"the {channel.value} notification URL is not a valid Apprise {wanted} URL") from None
    return parsed
