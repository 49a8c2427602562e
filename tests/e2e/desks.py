"""What the desks do, as HTTP calls: applicants with valid, unique NIKs, and helpers that walk one
application through the office to a given stage. Every helper asserts its expected status and
shows the server's answer when it gets another."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests import photos

# Minimal but real files of each scan type the intake desk accepts (it sniffs the first bytes).
PDF_SCAN = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ADULT_DOCUMENTS = ("ktp", "kk", "birth_certificate")
PROBLEM_TYPE = "application/problem+json"

_serials = itertools.count(1)


@dataclass(frozen=True)
class Person:
    full_name: str
    nik: str
    birth_date: date
    sex: str  # "M" or "F"
    kk_number: str

    def applicant(self, **extra: Any) -> dict:
        return {"full_name": self.full_name, "nik": self.nik, "birth_date": self.birth_date.isoformat(),
                "sex": self.sex, "birth_place": "Manado", "kk_number": self.kk_number, **extra}


def person(sex: str = "F", birth_date: date = date(1990, 8, 5), name: str | None = None) -> Person:
    """An adult with a NIK that agrees with sex and birth date and is unique in this test run
    (the office puts a second open application for the same NIK on hold)."""
    n = next(_serials)
    day = birth_date.day + (40 if sex == "F" else 0)
    nik = f"717101{day:02d}{birth_date:%m%y}{n:04d}"
    name = name or f"{'Siti Rahmawati' if sex == 'F' else 'Budi Santoso'} {_letters(n)}"
    return Person(name, nik, birth_date, sex, f"71710112{n:08d}")


def _letters(n: int) -> str:
    """A name part from a number (names in the MRZ are letters only)."""
    s = ""
    while True:
        n, r = divmod(n, 26)
        s = chr(ord("A") + r) + s
        if n == 0:
            return s


def next_working_day() -> date:
    """The first Monday-Friday after the office's today (the server adds no holidays): a day
    on which a booking is always taken, whatever the hour of the test run."""
    day = datetime.now(ZoneInfo("Asia/Jakarta")).date() + timedelta(days=1)  # KANIM_TIMEZONE's default
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: expected {status}, " \
                                    f"got {r.status_code}: {r.text[:2000]}"
    return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r


def problem(r: httpx.Response, status: int, code: str) -> dict:
    """Assert an RFC 9457 problem document with this status and code; return its body."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text[:2000]}"
    assert r.headers["content-type"].split(";")[0].strip() == PROBLEM_TYPE, r.headers["content-type"]
    body = r.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert body["type"] == f"urn:kanim:problem:{code}", body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


def file(data: bytes, name: str = "upload.bin", content_type: str = "application/octet-stream") -> dict:
    return {"file": (name, data, content_type)}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


# -- desks -------------------------------------------------------------------------------------

def get_app(server, app_id: str) -> dict:  # noqa: ANN001
    return ok(server.desk("front_desk").get(f"/applications/{app_id}"))


def walk_in(server, who: Person | None = None) -> dict:  # noqa: ANN001
    return ok(server.desk("front_desk").post("/walk-ins", json=(who or person()).applicant()), 201)


def upload_documents(server, app_id: str, kinds=ADULT_DOCUMENTS) -> None:  # noqa: ANN001
    fd = server.desk("front_desk")
    for kind in kinds:
        ok(fd.put(f"/applications/{app_id}/documents/{kind}", files=file(PDF_SCAN, f"{kind}.pdf", "application/pdf")),
           201)


def intake(server, app_id: str) -> dict:  # noqa: ANN001
    upload_documents(server, app_id)
    return ok(server.desk("front_desk").post(f"/applications/{app_id}/intake", json={}))


def pay(server, app_id: str) -> dict:  # noqa: ANN001
    """Bill and pay at once. On the server whose codes live 1.2 s, a very slow machine may let
    one expire in between: then the cashier starts over, as at a real counter (410 is tested
    on its own)."""
    cashier = server.desk("cashier")
    for _ in range(3):
        bill = ok(cashier.post(f"/applications/{app_id}/billing"), 201)
        r = cashier.post("/payments", json={"billing_code": bill["billing_code"], "receipt_ref": f"BANK-{app_id[:8]}"})
        if r.status_code != 410:
            return ok(r)
    return ok(r)


@functools.cache
def face_jpeg() -> bytes:
    """The passing passport photo, built once."""
    return photos.passport_photo_jpeg()


def capture(server, app_id: str) -> dict:  # noqa: ANN001
    """The passing photo; fingers by exception (the journey uploads real fingerprints)."""
    bio = server.desk("biometric_operator")
    ok(bio.put(f"/applications/{app_id}/photo", files=file(face_jpeg(), "face.jpg", "image/jpeg")), 201)
    for pos in range(1, 11):
        ok(bio.post(f"/applications/{app_id}/fingerprints/{pos}/exception", json={"exception": "unreadable"}), 201)
    return ok(bio.post(f"/applications/{app_id}/capture"))


def interview(server, app_id: str) -> dict:  # noqa: ANN001
    return ok(server.desk("interviewer").post(f"/applications/{app_id}/interview",
                                              json={"notes": "Purpose: family visit. Documents consistent."}))


def approve(server, app_id: str) -> dict:  # noqa: ANN001
    return ok(server.desk("supervisor").post(f"/applications/{app_id}/approve"))


def print_passport(server, app_id: str, serial: str | None = None) -> dict:  # noqa: ANN001
    return ok(server.desk("print_operator").post(f"/applications/{app_id}/print", json={"serial": serial}))


STEPS: list[tuple[str, Callable[..., dict]]] = [
    ("intake_done", intake), ("paid", pay), ("captured", capture), ("interviewed", interview),
    ("approved", approve), ("printed", print_passport),
]


def walk_in_to(server, target: str, who: Person | None = None) -> dict:  # noqa: ANN001
    """A walk-in applicant taken through the desks up to `target` (a STEPS name)."""
    app = walk_in(server, who)
    for name, step in STEPS:
        app = step(server, app["id"])
        if name == target:
            return app
    raise ValueError(target)


ALL_CLEARANCES = ("nik_verified", "watchlist_clear", "not_duplicate", "payment_confirmed", "recorded_centrally")


# -- "nothing half-written" ----------------------------------------------------------------------

def footprint(server, *app_ids: str) -> dict:  # noqa: ANN001
    """Everything a refused request could have half-written: the applications (every field),
    their scans and biometrics, the number of applications, the outbox, the audit chain, the
    booklet stock and the encrypted files on disk. Exact only where nothing changes by itself:
    on servers without a central (no link thread applying decisions)."""
    fd, admin, printer = server.desk("front_desk"), server.desk("admin"), server.desk("print_operator")
    audit = ok(admin.get("/audit/verify"))
    assert audit["ok"], audit["problems"]
    return {
        "applications": {a: get_app(server, a) for a in app_ids},
        "documents": {a: ok(fd.get(f"/applications/{a}/documents")) for a in app_ids},
        "biometrics": {a: ok(fd.get(f"/applications/{a}/biometrics")) for a in app_ids},
        "application_count": len(ok(fd.get("/applications", params={"limit": 500}))),
        "outbox": ok(admin.get("/outbox")),
        "audit_rows": audit["rows"],
        "booklets": ok(printer.get("/booklets/report")),
        "vault_files": server.vault_files(),
    }


@contextmanager
def leaves_no_trace(server, *app_ids: str) -> Iterator[dict]:  # noqa: ANN001
    """Assert that the block changes nothing `footprint` sees."""
    assert server.config.central == "none", "exact footprints need a server without a central"
    before = footprint(server, *app_ids)
    yield before
    after = footprint(server, *app_ids)
    for key in before:
        assert after[key] == before[key], f"a refused request changed {key}"
