"""Errors as the console shows them: a page for a page, the problem's own words beside the
field it concerns for a form.

The same problems the JSON API answers (kanim.http.problems) reach the console through this
renderer: a 401 leads to the login page, a 403 or 404 is a page that says what happened, and a
refused form gets its problem in the form's own problem region (`#<form id>-problem`), with each
field's message next to the field (`#<form id>-err-<field>`, swapped out of band).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from kanim.web.console.render import gettext, page

# A domain problem's code names the field it concerns by its prefix (the rest carry `field`).
FIELD_BY_CODE = {
    "nik": "nik", "birth-date": "birth_date", "travel-date": "travel_date", "contact-phone": "contact_phone",
    "contact-email": "contact_email", "contact-missing": "preferred_channel", "name": "full_name",
    "billing": "billing_code", "booklet-serial": "serial", "photo": "file", "fingerprint": "file",
    "upload": "file", "scan": "file", "recipient": "recipient_name", "password": "password", "slot": "slot",
    "notes": "notes", "reason": "reason",
}


def render_error(request: Request, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> Response:
    htmx = request.headers.get("HX-Request") == "true"
    if status == 401:
        target = "/staff/login?next=" + quote(request.url.path)
        if htmx:
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    lang = getattr(request.state, "lang", None) or _visitor_language(request)
    request.state.lang = lang
    message = _words(lang, code, detail)
    if htmx:
        # The form's own region, or the one an element names (a button in a table row).
        form = request.headers.get("X-Problem-Region") or request.headers.get("HX-Trigger") or "page"
        fields = _field_messages(lang, code, message, extra)
        return page(request, "console/_problem.html", status=status, form=form, code=code, message=message,
                    detail=detail, fields=fields, reasons=extra.get("reasons") or [],
                    headers={**(headers or {}), "HX-Retarget": f"#{form}-problem", "HX-Reswap": "innerHTML"})
    return page(request, "console/error.html", status=status, code=code, message=message, detail=detail,
                headers=headers)


def _visitor_language(request: Request) -> str:
    from kanim.web.console.session import language_of_visitor

    return language_of_visitor(request)


def _words(lang: str, code: str, detail: str) -> str:
    """The problem in the desk's language where the catalog has words for its code (message id
    `problem:<code>`), else the problem's own detail."""
    key = f"problem:{code}"
    text = gettext(lang, key)
    return detail if text == key else text


def _field_messages(lang: str, code: str, message: str, extra: dict[str, Any]) -> dict[str, str]:
    if code == "request-invalid":
        out: dict[str, str] = {}
        for e in extra.get("errors") or []:
            loc = [p for p in e.get("loc", []) if p not in ("body", "query", "path", "header")]
            if loc:
                out.setdefault(str(loc[-1]), e.get("msg", ""))
        return out
    if isinstance(extra.get("fields"), dict):  # a desk that names several fields at once
        return {str(k): str(v) for k, v in extra["fields"].items()}
    field = extra.get("field") or next((f for prefix, f in FIELD_BY_CODE.items() if code.startswith(prefix)), None)
    return {field: message} if field else {}
