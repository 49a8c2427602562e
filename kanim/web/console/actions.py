"""Running a desk's use case from a console route, with the desk's own names for its fields.

A rule's code names the field it concerns by its prefix (kanim/web/console/errors.py), in the
API's words: `nik-...` is the applicant's `nik`. A desk whose form calls that field something
else (the pickup desk's `id_nik`, the NIK on the KTP shown) says so here, so the problem's words
land beside the field the officer typed into."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import DomainError

T = TypeVar("T")


async def run(fn: Callable[..., T], /, *args: Any, fields: Mapping[str, str] | None = None, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` off the event loop. A refusal whose code starts with a key of
    `fields` (the longest that fits) is shown beside that field, unless it names its own."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except DomainError as e:
        prefixes = sorted(fields or {}, key=len, reverse=True)
        field = next((fields[p] for p in prefixes if e.code.startswith(p)), None)  # type: ignore[index]
        if field and "field" not in e.extra:
            e.extra["field"] = field
        raise
