"""Pages of the staff console: Jinja2 templates, the gettext catalogs (Babel) and the local
formats of money, dates and times.

Every string a person reads goes through gettext. The message ids are English; the catalogs
are `kanim/locale/<lang>/LC_MESSAGES/kanim.po`, read as they are (no compiled `.mo` to go stale).
Indonesian is the default; English is a staff member's choice. A test extracts every string of
the templates and the console's code and fails when one is missing from a catalog.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kanim.domain.zones import zone_abbreviation

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
DEFAULT_LANGUAGE = "id"


def page_language(asked: str | None) -> str:
    """A public page's language from its `?lang=`: a page answers whatever it is asked (an
    unknown language is the default one), where the API's own parameters stay strict."""
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE
BABEL_LOCALES = {"id": "id_ID", "en": "en_GB"}  # en_GB: 1 December 2026, 24-hour times


@cache
def translations(lang: str) -> NullTranslations:
    """The catalog of `lang`, compiled in memory from its .po file."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "kanim.po"
    if not path.exists():
        return NullTranslations()
    with open(path, "rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return GNUTranslations(buf)


def gettext(lang: str, message: str, **values: Any) -> str:
    text = translations(lang).gettext(message)
    return text % values if values else text


# -- local formats ------------------------------------------------------------------------------

def money(amount: int | None, lang: str) -> str:
    """Rp650.000 (id), Rp650,000 (en): rupiah have no minor unit in practice."""
    if amount is None:
        return "–"
    return "Rp" + format_decimal(amount, format="#,##0", locale=BABEL_LOCALES[lang])


def long_date(d: date | datetime | None, lang: str, tz: str | None = None) -> str:
    """1 Desember 2026."""
    if d is None:
        return "–"
    if isinstance(d, datetime):
        d = d.astimezone(ZoneInfo(tz)).date() if tz else d.date()
    return format_date(d, "d MMMM y", locale=BABEL_LOCALES[lang])


def clock_time(at: datetime | None, lang: str, tz: str) -> str:
    """08:30 WITA: the office's local time and its zone's name."""
    if at is None:
        return "–"
    local = at.astimezone(ZoneInfo(tz))
    return f"{format_time(local, 'HH:mm', locale=BABEL_LOCALES[lang])} {zone_abbreviation(tz, local.utcoffset())}"


def date_time(at: datetime | None, lang: str, tz: str) -> str:
    """1 Desember 2026, 08:30 WITA."""
    return "–" if at is None else f"{long_date(at, lang, tz)}, {clock_time(at, lang, tz)}"


def masked_nik(nik: str | None) -> str:
    """3171••••••••0001: enough for a desk to tell two people apart, not enough to copy."""
    if not nik:
        return "–"
    return nik[:4] + "•" * max(0, len(nik) - 8) + nik[-4:]


# -- the environment ----------------------------------------------------------------------------

@cache
def environment(lang: str) -> Environment:
    """One environment per language: gettext is bound to it, so a page never mixes two."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(LANGUAGES=LANGUAGES, lang=lang)
    env.filters.update(money=lambda v: money(v, lang), masked_nik=masked_nik,
                       long_date=lambda v, tz=None: long_date(v, lang, tz))
    return env


def new_key() -> str:
    """An Idempotency-Key for one form as rendered: a double click sends it twice, one effect."""
    return secrets.token_urlsafe(16)


def _backup_warnings(settings: Any, user: Any, central: bool) -> Callable[[], list[str]]:
    """What the node's backup watch last found wrong (kanim/backup/health_file.py), for every page
    of the staff who can act on it (a supervisor tells IT, an admin is IT). A callable: only the
    full page's layout asks, not the fragments the desks poll every few seconds."""
    from kanim.security.roles import Role

    if central or user is None or user.role not in (Role.SUPERVISOR, Role.ADMIN):
        return list

    def found() -> list[str]:
        from kanim.backup.health_file import warnings

        return warnings(settings.data_dir, datetime.now(UTC))

    return found


def page(request: Request, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    """Render a page or a fragment in the language of whoever asks (kanim.web.console.session
    puts the staff member, their language and the form tokens in request.state)."""
    state = request.state
    lang = getattr(state, "lang", DEFAULT_LANGUAGE)
    settings = request.app.state.office.settings
    tz = settings.timezone
    env = environment(lang)
    # The central has no office name of its own (its settings carry the default's).
    central = getattr(request.app.state, "console_node", "office") == "central"
    name = gettext(lang, "Central hub") if central else settings.office_name
    user = getattr(state, "user", None)
    html = env.get_template(template).render(
        request=request, user=user, backup_warnings=_backup_warnings(settings, user, central),
        csrf=getattr(state, "csrf", ""), desks=getattr(state, "desks", []), office_name=name, new_key=new_key, tz=tz,
        clock=lambda at: clock_time(at, lang, tz), when=lambda at: date_time(at, lang, tz), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
