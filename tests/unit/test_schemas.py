"""Request bodies refuse what they do not know and bound what they take."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel, ValidationError

from kanim.central import api as central_api
from kanim.web import schemas
from kanim.web.schemas import ApplicantIn, RequestBody, SpoilIn


def _request_bodies() -> list[type[BaseModel]]:
    found = []
    for module in (schemas, central_api):
        found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, BaseModel) and c.__name__.endswith("In") and c.__module__ == module.__name__]
    return found


# The one body that ignores fields it does not name: the link's batch, so that an office a release
# ahead still drains against this central (docs/link.md); its operations are checked one by one.
TOLERANT = {"PushIn"}


def test_every_request_body_refuses_unknown_fields() -> None:
    bodies = [b for b in _request_bodies() if b.__name__ not in TOLERANT]
    assert len(bodies) >= 20
    assert [b.__name__ for b in bodies if not issubclass(b, RequestBody)] == []
    assert all(b.model_config.get("extra") == "forbid" for b in bodies)


def test_the_links_batch_ignores_a_field_a_newer_office_adds() -> None:
    from kanim.central.link_api import PushIn

    assert PushIn.model_validate({"operations": [], "office_release": "2027.1"}).operations == []


def test_a_walk_in_naming_a_stage_or_a_fee_is_refused_naming_them() -> None:
    body = {"full_name": "Siti Rahmawati", "nik": "3171014508900001", "birth_date": "1990-08-05", "sex": "F",
            "stage": "approved", "fee_total": 0}
    with pytest.raises(ValidationError) as e:
        ApplicantIn.model_validate(body)
    assert sorted((err["loc"], err["type"]) for err in e.value.errors()) == [
        (("fee_total",), "extra_forbidden"), (("stage",), "extra_forbidden")]


def _string_fields(model: type[BaseModel]) -> list[tuple[str, object]]:
    out = []
    for name, f in model.model_fields.items():
        if f.annotation in (str, str | None):
            out.append((name, f))
    return out


def test_every_free_text_field_has_a_maximum_length() -> None:
    unbounded = [f"{m.__name__}.{name}" for m in _request_bodies() for name, f in _string_fields(m)
                 if not any(getattr(c, "max_length", None) or getattr(c, "pattern", None) for c in f.metadata)]
    # OperationIn.payload is a dict, checked per operation by the central; public keys are bounded.
    assert unbounded == []


def test_a_100000_character_spoil_note_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        SpoilIn.model_validate({"reason": "damaged_in_stock", "note": "x" * 100_000})
    assert e.value.errors()[0]["type"] == "string_too_long"
