"""Reading a console form into the same Pydantic model the JSON API validates with: one set of
input rules for both, and the same problems (`request-invalid`, each field named)."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from kanim.web.console.session import CSRF_FIELD

M = TypeVar("M", bound=BaseModel)


async def read_form(request: Request, model: type[M], *, blank_is_missing: bool = True) -> M:
    """The form as `model`; an empty field counts as not given (the browser sends every field)."""
    form = await request.form()
    data = {k: v for k, v in form.items() if k != CSRF_FIELD and not (blank_is_missing and v == "")}
    return validated(model, data, strings=True)


def validated(model: type[M], data: dict, *, strings: bool = False) -> M:
    """`data` as `model`, or the API's `request-invalid` with each field named. A form's
    fields are text: `strings` reads them as JSON's strings would be ("true" a true boolean,
    which a strict field refuses from a JSON client)."""
    try:
        return model.model_validate_strings(data) if strings else model.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in e.errors(include_input=False, include_url=False)]) from None


def query_day(text: str, field: str) -> date | None:
    """A date picker's value in the query (`YYYY-MM-DD`); empty is None (the caller's default,
    today or this week). Anything else is the 422 a bad query parameter gets."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RequestValidationError([{"loc": ("query", field), "type": "date_from_datetime_parsing",
                                       "msg": f"{text!r} is not a day written YYYY-MM-DD"}]) from None
