"""The office's public status page (`/status`) and its Atom feed (`/status/feed.atom`): each
service at its level (kanim/domain/status_page.py), the incidents and maintenance staff wrote,
and 90 days of history. Both are the same for everyone, so they are cacheable for a short
while: when the central goes down, every applicant opens this page at once, and a proxy or the
phone's own cache answers most of them. `render_page` and `render_feed` are also what
`kanim status export DIR` writes as static files, for a host outside the office.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Form, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kanim.bootstrap import Office
from kanim.domain.status_page import Cause, Component, IncidentState, Level
from kanim.domain.errors import InvalidInput
from kanim.office import status_page, subscriptions
from kanim.web.console import STATIC
from kanim.web.console.desks import N_
from kanim.web.console.render import DEFAULT_LANGUAGE, LANGUAGES, date_time, environment, gettext, page_language

router = APIRouter(include_in_schema=False)
MAX_AGE = 30  # seconds: fresh enough in an outage, and a crowd costs one render per half minute
ATOM = "http://www.w3.org/2005/Atom"
# A page answers whatever it is asked (an unknown language is the default one); the API's own
# parameters stay strict.
Lang = Annotated[str | None, Query()]

COMPONENT_WORDS = {
    Component.BOOKING: N_("Booking"), Component.INTAKE_PAYMENT: N_("Intake and payment at the counter"),
    Component.BIOMETRICS: N_("Photo and fingerprints"), Component.PRINTING: N_("Passport printing"),
    Component.PICKUP: N_("Passport pickup"), Component.PAYMENT_CONFIRMATION: N_("Online payment confirmation"),
}
LEVEL_WORDS = {Level.OPERATIONAL: N_("Operational"), Level.DEGRADED: N_("Degraded"),
               Level.PARTIAL_OUTAGE: N_("Partial outage"), Level.MAJOR_OUTAGE: N_("Major outage")}
LEVEL_TONES = {Level.OPERATIONAL: "ok", Level.DEGRADED: "warn", Level.PARTIAL_OUTAGE: "warn", Level.MAJOR_OUTAGE: "bad"}
OVERALL_WORDS = {Level.OPERATIONAL: N_("All services are working normally."),
                 Level.DEGRADED: N_("Some services are slower than usual."),
                 Level.PARTIAL_OUTAGE: N_("Some services are partly unavailable."),
                 Level.MAJOR_OUTAGE: N_("Some services are unavailable.")}
UNREACHABLE = N_("The national system cannot be reached. Passports printed meanwhile wait for its confirmation.")
CAUSE_WORDS = {
    Cause.LINK_DOWN: UNREACHABLE, Cause.UNLINKED: UNREACHABLE,
    Cause.LINK_DEGRADED: N_("The national system answers slowly."),
    Cause.LINK_STALLED: N_("Work for the national system is held up; staff are on it."),
    Cause.GUARDRAIL: N_("Printing waits for an update from the national system for some applications."),
    Cause.DEAD_LETTERS: N_("Some applications wait for staff to clear an error with the national system."),
    Cause.PICKUP_BACKLOG: N_("Many passports are waiting: pickup slots are being given weeks ahead."),
    Cause.INCIDENT: N_("See the incident below."),
    Cause.MAINTENANCE: N_("Scheduled maintenance is in progress."),
}
STATE_WORDS = {IncidentState.INVESTIGATING: N_("Investigating"), IncidentState.IDENTIFIED: N_("Identified"),
               IncidentState.MONITORING: N_("Monitoring"), IncidentState.RESOLVED: N_("Resolved")}


@dataclass(frozen=True)
class Links:
    """Where the page's links go: the live node's own paths, or an export's files."""

    other_language: str
    feed: str
    track: str | None
    stylesheet: str = "/staff/static/console.css"
    subscribe: str | None = None  # the subscription form's action (an export without a public address has none)


def live_links(lang: str) -> Links:
    other = "en" if lang == "id" else "id"
    return Links(f"/status?lang={other}", f"/status/feed.atom?lang={lang}", f"/track?lang={lang}",
                 subscribe=f"/status/subscribe?lang={lang}")



def render_page(office: Office, data: status_page.StatusPage, lang: str, links: Links) -> str:
    tz = office.settings.timezone
    return environment(lang).get_template("public/status.html").render(
        office_name=office.settings.office_name, office_phone=office.settings.office_phone, lang=lang, page=data,
        links=links, components=COMPONENT_WORDS, levels=LEVEL_WORDS, tones=LEVEL_TONES, overall_words=OVERALL_WORDS,
        cause_texts=lambda c: list(dict.fromkeys(CAUSE_WORDS[x] for x in c.causes)), states=STATE_WORDS,
        when=lambda at: date_time(at, lang, tz), stylesheet=links.stylesheet,
        duration=lambda a, b: _duration(a, b or data.now, lang))


def _duration(start: datetime, end: datetime, lang: str) -> str:
    minutes = max(int((end - start).total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return gettext(lang, "%(n)s days", n=hours // 24)
    return gettext(lang, "%(h)s h %(m)s min", h=hours, m=minutes) if hours else gettext(lang, "%(m)s min", m=minutes)


def render_feed(office: Office, data: status_page.StatusPage, lang: str, *, base_url: str, self_url: str) -> bytes:
    """Atom (RFC 4287): one entry per incident or maintenance, its updates as the content,
    updated at its latest update; the feed updated at the newest entry."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    incidents = data.active + data.upcoming + data.history
    newest = max((i.updates[0].at if i.updates else i.starts_at for i in incidents), default=data.now)
    _text(feed, "id", f"urn:kanim:status:{office.settings.office_code}:{lang}")
    _text(feed, "title", gettext(lang, "Service status: %(office)s", office=office.settings.office_name))
    _text(feed, "updated", _iso(newest))
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", office.settings.office_name)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": self_url})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": base_url, "type": "text/html"})
    for i in incidents:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", f"urn:uuid:{i.id}")
        kind = gettext(lang, "Maintenance") if i.kind == status_page.MAINTENANCE else gettext(lang, "Incident")
        _text(entry, "title", f"{kind}: {i.title[lang]}")
        _text(entry, "updated", _iso(i.updates[0].at if i.updates else i.starts_at))
        _text(entry, "published", _iso(i.starts_at))
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{base_url}#incident-{i.id}"})
        lines = [f"{gettext(lang, STATE_WORDS[u.state])} ({date_time(u.at, lang, office.settings.timezone)}): "
                 f"{u.body[lang]}" for u in i.updates]
        ET.SubElement(entry, f"{{{ATOM}}}content", {"type": "text"}).text = "\n\n".join(lines)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = value


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _cacheable(body: str | bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Cache-Control": f"public, max-age={MAX_AGE}"})


@router.get("/status", response_class=HTMLResponse)
async def status(request: Request, lang: Lang = None) -> Response:
    office = request.app.state.office
    language = page_language(lang)
    data = await run_in_threadpool(status_page.page, office)
    return _cacheable(render_page(office, data, language, live_links(language)), "text/html; charset=utf-8")


@router.get("/status/feed.atom")
async def feed(request: Request, lang: Lang = None) -> Response:
    office = request.app.state.office
    language = page_language(lang)
    data = await run_in_threadpool(status_page.page, office)
    base = str(request.base_url).rstrip("/")
    body = render_feed(office, data, language, base_url=f"{base}/status?lang={language}",
                       self_url=f"{base}/status/feed.atom?lang={language}")
    return _cacheable(body, "application/atom+xml")


# -- the static copy ---------------------------------------------------------------------------------

def export(office: Office, folder: Path) -> list[Path]:
    """The page and the feed in both languages, with the stylesheet, as files for a host
    outside the office (`kanim status export DIR`): when the office itself is cut off, the
    public still reads what staff last wrote. Links between them are relative."""
    folder.mkdir(parents=True, exist_ok=True)
    data = status_page.page(office)
    public = (office.settings.public_url or "").rstrip("/") or None
    written = []
    for lang in LANGUAGES:
        suffix = "" if lang == DEFAULT_LANGUAGE else f".{lang}"
        other = "" if lang != DEFAULT_LANGUAGE else ".en"
        links = Links(f"index{other}.html", f"feed{suffix}.atom", f"{public}/track?lang={lang}" if public else None,
                      stylesheet="console.css", subscribe=f"{public}/status/subscribe?lang={lang}" if public else None)
        written.append(_write(folder / f"index{suffix}.html", render_page(office, data, lang, links).encode()))
        feed_body = render_feed(office, data, lang, base_url=f"index{suffix}.html", self_url=f"feed{suffix}.atom")
        written.append(_write(folder / f"feed{suffix}.atom", feed_body))
    written.append(_write(folder / "console.css", (STATIC / "console.css").read_bytes()))
    return written


def _write(path: Path, body: bytes) -> Path:
    """Through a temporary file and a rename: a web server never serves half a page."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    tmp.replace(path)
    return path


# -- subscriptions (kanim/office/subscriptions.py) ---------------------------------------------------

SubCode = Annotated[str, PathParam(max_length=12, pattern=r"^[A-Za-z2-7]+$")]
SUBSCRIBE_WORDS = {  # a refused form's problem, as the page says it
    "subscribe-channel": N_("Choose WhatsApp, SMS or email."),
    "subscribe-address": N_("Give a phone number (0812 3456 7890 or +62 812 3456 7890) or an email address that goes with the channel."),
    "subscribe-channel-unavailable": N_("This office cannot take email subscriptions yet: choose WhatsApp or SMS."),
}


def _personal(request: Request, lang: str, template: str, *, status: int = 200,
              headers: dict[str, str] | None = None, **context: object) -> HTMLResponse:
    """A page about one subscription (or one ask): never cached, never indexed, no referrer."""
    office = request.app.state.office
    html = environment(lang).get_template(template).render(
        office_name=office.settings.office_name, office_phone=office.settings.office_phone, lang=lang,
        words=SUBSCRIBE_WORDS, **context)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer", **(headers or {})})


@router.post("/status/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, lang: Lang = None, channel: Annotated[str, Form(max_length=16)] = "",
                    address: Annotated[str, Form(max_length=300)] = "") -> HTMLResponse:
    """The status page's form: a confirmation goes to the address. The answer is the same for
    every address (it says nothing of who is subscribed) and shows nothing of what was typed."""
    language = page_language(lang)
    office = request.app.state.office
    try:
        await run_in_threadpool(subscriptions.subscribe, office, channel=channel, address=address, language=language,
                                client=request.client.host if request.client else None)
    except subscriptions.SubscribeThrottled as e:
        return _personal(request, language, "public/subscribe.html", status=429, throttled=e.retry_after,
                         headers={"Retry-After": str(e.retry_after)})
    except InvalidInput as e:
        return _personal(request, language, "public/subscribe.html", status=422, wrong=e.code, channel=channel)
    return _personal(request, language, "public/subscribe.html", asked=True, channel=channel)


def _subpage_language(asked: str | None, sub: subscriptions.Subscriber | None) -> str:
    if asked in LANGUAGES:
        return asked
    return sub.language if sub is not None else DEFAULT_LANGUAGE


@router.get("/s/{code}", response_class=HTMLResponse)
@router.get("/s/{code}/stop", response_class=HTMLResponse)
async def subscription_page(request: Request, code: SubCode, lang: Lang = None) -> HTMLResponse:
    """A subscriber's link: asks to confirm, or to stop. A GET changes nothing (mail scanners
    and link previews open links); the page's button POSTs."""
    sub = await run_in_threadpool(subscriptions.shown, request.app.state.office, code)
    language = _subpage_language(lang, sub)
    stopping = request.url.path.endswith("/stop")
    return _personal(request, language, "public/subscription.html", status=404 if sub is None else 200, sub=sub,
                     code=code, stopping=stopping)


@router.post("/s/{code}", response_class=HTMLResponse)
async def subscription_confirm(request: Request, code: SubCode, lang: Lang = None) -> HTMLResponse:
    sub = await run_in_threadpool(subscriptions.confirm, request.app.state.office, code)
    return _personal(request, _subpage_language(lang, sub), "public/subscription.html", status=404 if sub is None else 200,
                     sub=sub, code=code, stopping=False, done="confirmed")


@router.post("/s/{code}/stop", response_class=HTMLResponse)
async def subscription_stop(request: Request, code: SubCode, lang: Lang = None) -> HTMLResponse:
    sub = await run_in_threadpool(subscriptions.stop, request.app.state.office, code)
    return _personal(request, _subpage_language(lang, sub), "public/subscription.html", status=404 if sub is None else 200,
                     sub=sub, code=code, stopping=True, done="stopped")
