"""The answers a client can rely on, over real HTTP: no input reaches a 500, an unexpected error
is still a problem document (with an error id that is in the server's log, and no input value
in that log), and the OpenAPI document describes every status each route answers, with the body
really sent. (schemathesis checks the whole document against the server: test_schemathesis.py.)"""

from __future__ import annotations

import httpx
import jsonschema_rs  # comes with schemathesis (dev dependencies)
import pytest

from tests.e2e.desks import PDF_SCAN, file, leaves_no_trace, ok, person, problem, walk_in, walk_in_to

BEYOND_64_BITS = 9223372036854775808  # 2**63: one more than SQLite and PostgreSQL's BIGINT hold


@pytest.fixture(scope="module")
def paid(offline_server) -> dict:  # noqa: ANN001
    return walk_in_to(offline_server, "paid")


@pytest.mark.parametrize("case", ["offset", "finger-position-read", "finger-position-upload", "fee-amount"])
def test_an_integer_beyond_64_bits_is_refused_as_input_not_a_500(offline_server, paid, case) -> None:  # noqa: ANN001
    s = offline_server
    request = {
        "offset": lambda: s.desk("supervisor").get("/applications", params={"offset": 100000000000000000000}),
        "finger-position-read": lambda: s.desk("supervisor").get(
            f"/applications/{paid['id']}/fingerprints/{BEYOND_64_BITS}"),
        "finger-position-upload": lambda: s.desk("biometric_operator").put(
            f"/applications/{paid['id']}/fingerprints/{BEYOND_64_BITS}", files=file(b"\x89PNG", "f.png")),
        "fee-amount": lambda: s.desk("supervisor").put("/fees/passport.ordinary.5y",
                                                       json={"amount": BEYOND_64_BITS}),
    }[case]
    with leaves_no_trace(s, paid["id"]):
        body = problem(request(), 422, "request-invalid")
    assert body["errors"][0]["loc"][-1] in ("offset", "position", "amount")


def test_a_fee_too_large_for_an_applications_total_is_refused(offline_server) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("supervisor").put("/fees/passport.ordinary.5y", json={"amount": 2**31}),
                422, "request-invalid")
    fees = {f["code"]: f["amount"] for f in ok(offline_server.desk("supervisor").get("/fees"))}
    assert fees["passport.ordinary.5y"] < 2**31


def test_an_unexpected_error_is_a_problem_with_an_error_id_that_is_in_the_log(offline_server) -> None:  # noqa: ANN001
    """A fault no rule foresees (the vault's folder has become a file: a broken disk, a botched
    restore) answers 500 problem+json, not text; its error id is in the log, beside the
    exception's type, and none of the request's values are."""
    app = walk_in(offline_server)
    vault = offline_server.data_dir / "vault"
    moved = vault.with_name("vault.moved")
    vault.rename(moved)
    vault.write_text("not a folder")
    try:
        r = offline_server.desk("front_desk").put(f"/applications/{app['id']}/documents/ktp",
                                                  files=file(PDF_SCAN, "ktp.pdf", "application/pdf"))
    finally:
        vault.unlink()
        moved.rename(vault)
    body = problem(r, 500, "internal-error")
    assert len(body["error_id"]) == 32 and body["error_id"] in body["detail"]
    log = offline_server.stderr_path.read_text(errors="replace")
    line = next(li for li in log.splitlines() if body["error_id"] in li)
    assert "/documents/ktp" in line and "Error" in line  # where, and the exception's type
    assert "Exception in ASGI application" not in log  # uvicorn's own trace, which quotes messages
    assert app["nik"] not in log and app["full_name"] not in log
    ok(offline_server.desk("front_desk").put(f"/applications/{app['id']}/documents/ktp",
                                             files=file(PDF_SCAN, "ktp.pdf", "application/pdf")), 201)


# -- the OpenAPI document ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(offline_server) -> dict:  # noqa: ANN001
    return ok(httpx.get(f"{offline_server.base_url}/openapi.json"))


def operations(openapi: dict):  # noqa: ANN201
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_every_error_answer_is_documented_as_a_problem_document(openapi) -> None:  # noqa: ANN001
    for method, path, op in operations(openapi):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_each_route_documents_what_its_dependencies_can_answer(openapi) -> None:  # noqa: ANN001
    for method, path, op in operations(openapi):
        statuses = set(op["responses"])
        where = f"{method} {path}: {sorted(statuses)}"
        assert "500" in statuses, where
        if op.get("security"):
            assert "401" in statuses, where
        if path not in ("/api/v1/auth/me", "/api/v1/auth/logout") and op.get("security"):
            assert "403" in statuses, where
        if op.get("requestBody"):
            assert {"413", "422"} <= statuses, where
        if "{application_id}" in path:
            assert "404" in statuses, where
        changes = method in ("POST", "PUT", "DELETE") and "403" in statuses
        has_key = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        assert has_key == changes, where
        if has_key:
            assert {"409", "422"} <= statuses, where
    paths = openapi["paths"]
    assert {"401", "429"} <= set(paths["/api/v1/auth/token"]["post"]["responses"])
    assert "410" in paths["/api/v1/payments"]["post"]["responses"]


def test_the_problem_schema_is_the_body_really_sent(offline_server, openapi) -> None:  # noqa: ANN001
    """Refusals of each kind the handlers build, validated against the documented schema."""
    schema = _resolvable(openapi, "Problem")
    fd = offline_server.desk("front_desk")
    app = walk_in(offline_server)
    answers = [
        fd.post("/walk-ins", json={**person().applicant(), "birth_date": "1990-02-30"}),  # request-invalid
        fd.get("/applications/MND-20260101-9999"),  # a domain error
        httpx.get(f"{offline_server.api}/applications"),  # 401
        offline_server.desk("cashier").post("/walk-ins", json=person().applicant()),  # 403
        fd.post(f"/applications/{app['id']}/intake", json={}),  # documents-missing, with `missing`
        fd.delete("/applications"),  # 405
    ]
    for r in answers:
        assert r.status_code >= 400 and r.headers["content-type"] == "application/problem+json", r.text
        jsonschema_rs.validate(schema, r.json())
    assert answers[0].json()["errors"] and answers[4].json()["missing"]


def _resolvable(openapi: dict, name: str) -> dict:
    """The component `name` with its `#/components/...` references resolvable by jsonschema."""
    return {"$ref": f"#/components/schemas/{name}", "components": openapi["components"]}


ENUMS = {
    "DocumentKind": {"ktp", "kk", "birth_certificate"},
    "FingerException": {"missing", "injured", "unreadable"},
    "Role": {"front_desk", "cashier", "supervisor", "admin"},
    "Stage": {"booked", "checked_in", "ready", "handed_over"},
    "RecipientKind": {"holder", "family_same_kk", "power_of_attorney", "post"},
    "Channel": {"sms", "whatsapp", "email"},
    "SpoilReason": {"misprint", "damaged_in_stock"},
}


def test_the_enumerations_a_client_needs_are_in_the_document(openapi) -> None:  # noqa: ANN001
    schemas = openapi["components"]["schemas"]
    for name, some in ENUMS.items():
        assert some <= set(schemas[name]["enum"]), name
    props = {f"{m}.{p}": v for m in schemas for p, v in schemas[m].get("properties", {}).items()}

    def enum(prop: dict) -> set[str]:  # inline, or the enumeration's own schema
        ref = prop.get("$ref") or next((a["$ref"] for a in prop.get("allOf", []) if "$ref" in a), None)
        return set(schemas[ref.rsplit("/", 1)[1]]["enum"] if ref else prop["enum"])

    assert enum(props["FingerExceptionIn.exception"]) == {"missing", "injured", "unreadable"}
    assert "admin" in enum(props["UserIn.role"]) and "misprint" in enum(props["SpoilIn.reason"])
    assert props["BookingIn.preferred_channel"]["anyOf"][0] == {"$ref": "#/components/schemas/Channel"}
    fee = next(p for p in openapi["paths"]["/api/v1/fees/{code}"]["put"]["parameters"] if p["name"] == "code")
    assert "passport.ordinary.10y" in fee["schema"]["enum"] and "surcharge.replacement_lost" in fee["schema"]["enum"]
    kind = next(p for p in openapi["paths"]["/api/v1/applications/{application_id}/documents/{kind}"]["put"]
                ["parameters"] if p["name"] == "kind")
    assert "old_passport" in kind["schema"]["enum"]


def test_uploads_name_their_file_part_and_answers_have_models(openapi) -> None:  # noqa: ANN001
    upload = openapi["components"]["schemas"]["FileUpload"]
    assert upload["required"] == ["file"] and upload["properties"]["file"]["format"] == "binary"
    assert not [n for n in openapi["components"]["schemas"] if n.startswith("Body_")]
    for method, path, op in operations(openapi):
        for status, response in op["responses"].items():
            if status.startswith("2") and status != "204":
                content = response.get("content", {})
                schema = next(iter(content.values()), {}).get("schema", {})
                assert schema not in ({}, {"type": "object"}, {"additionalProperties": True, "type": "object"}), \
                    (method, path, schema)


def test_a_generated_client_can_read_a_real_answer_with_the_documented_model(offline_server, openapi) -> None:  # noqa: ANN001
    """Bare dicts had no schema; now each answer validates against its response model."""
    sup = offline_server.desk("supervisor")
    checks = [
        ("/api/v1/booklets/report", sup.get("/booklets/report")),
        ("/api/v1/fees", sup.get("/fees")),
        ("/api/v1/link/status", sup.get("/link/status")),
        ("/api/v1/auth/me", sup.get("/auth/me")),
    ]
    for path, r in checks:
        schema = openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema_rs.validate({**schema, "components": openapi["components"]}, ok(r))
