"""A day of applicants at the desks of an office, over its HTTP API, each desk logged in as its
own role: the drills' (and the outage scenario's) way of working an office as its staff would.
Used by `kanim demo --scenario outage` (kanim/ops/scenario.py)."""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from kanim.security.roles import Role

PASSWORD = "drill-password"  # what `provision` gives every staff account
API = "/api/v1"
HTTP_TIMEOUT = 20.0
SEED_DATA = Path(__file__).resolve().parent.parent / "seed_data"
PDF_SCAN = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
READY = ("ready", "handed_over")
PRINTED = ("printed", "qc_passed", *READY)
GIVEN = ["Siti", "Budi", "Dewi", "Agus", "Ni Made", "Rizky", "Yohana", "Andi", "Putu", "Rina", "Hendra",
         "Fransiska", "Jefry", "Meiske", "Stevanus", "Grace", "Wayan", "Nur", "Fajar", "Indah"]
FAMILY = ["Rahmawati", "Santoso", "Lestari", "Salim", "Wulandari", "Pratama", "Manurung", "Pangerang",
          "Sondakh", "Lumentut", "Rumengan", "Wenas", "Tumbelaka", "Kalangi", ""]  # "": one name only


class ScenarioError(Exception):
    """The drill could not be run (a node did not start, a desk refused for good)."""


# -- the day's applicants ------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    full_name: str
    nik: str
    birth_date: date
    sex: str
    kk_number: str
    walk_in: bool
    app_type: str
    passport_kind: str
    phone: str = "+6281234567890"  # the booking's contact: the applicant's messages go there
    channel: str = "whatsapp"  # the booking's preferred channel (whatsapp or sms)

    def body(self) -> dict[str, Any]:
        return {"full_name": self.full_name, "nik": self.nik, "birth_date": self.birth_date.isoformat(),
                "sex": self.sex, "app_type": self.app_type, "passport_kind": self.passport_kind,
                "birth_place": "Manado", "kk_number": self.kk_number}


def day_of_applicants(n: int) -> list[Person]:
    """Adults of Manado (region 71 71 01) with NIKs that agree with sex and birth date and are
    unique by their serial; a third walk in, a quarter renew an old passport; each has a mobile
    number of their own, and one in five prefers SMS to WhatsApp."""
    people = []
    for i in range(n):
        sex = "F" if i % 2 else "M"
        born = date(1960, 1, 1) + timedelta(days=(i * 1_487) % (365 * 45))
        nik = f"717101{born.day + (40 if sex == 'F' else 0):02d}{born:%m%y}{i + 1:04d}"
        family = FAMILY[i % len(FAMILY)]
        name = f"{GIVEN[i % len(GIVEN)]} {family}".strip() if family else GIVEN[(i * 7) % len(GIVEN)]
        people.append(Person(name, nik, born, sex, f"7171011{i + 1:09d}", walk_in=i % 3 == 2,
                             app_type="renewal" if i % 4 == 1 else "new",
                             passport_kind="electronic" if i % 3 == 0 else "ordinary",
                             phone=f"+62813{4000_0000 + i:08d}", channel="sms" if i % 5 == 3 else "whatsapp"))
    return people


def appointment_day() -> date:
    """Today at the office (Asia/Jakarta), or its next working day at a weekend."""
    from zoneinfo import ZoneInfo

    day = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


# -- what happened, as the desks saw it ---------------------------------------------------------

@dataclass
class Tally:
    """What the workers did, with monotonic times, and the outage window."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    taken: dict[str, float] = field(default_factory=dict)  # application id -> time taken
    printed: dict[str, float] = field(default_factory=dict)
    gate_waits: dict[str, float] = field(default_factory=dict)  # turned away at the handover gate
    handed_over: dict[str, float] = field(default_factory=dict)  # collected: cleared before the outage
    finished: int = 0
    errors: list[str] = field(default_factory=list)
    outage_from: float | None = None
    outage_to: float | None = None

    def mark(self, what: dict[str, float], app_id: str) -> None:
        with self.lock:
            what.setdefault(app_id, time.monotonic())

    def central_down(self) -> bool:
        return self.outage_from is not None and self.outage_to is None

    def during_outage(self, what: dict[str, float]) -> int:
        start, end = self.outage_from, self.outage_to or float("inf")
        if start is None:
            return 0
        with self.lock:
            return sum(1 for t in what.values() if start <= t < end)


class DeskRefused(Exception):
    pass


class Desks:
    """One logged-in client per role (each desk is its own staff account). Each worker thread
    gets its own set; all share the tokens."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.clients = {role: httpx.Client(base_url=url + API, timeout=HTTP_TIMEOUT,
                                           headers={"Authorization": f"Bearer {token}"})
                        for role, token in tokens.items()}

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def call(self, role: str, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        for attempt in range(6):
            r = self.clients[role].request(method, path, **kw)
            # The link thread may change the same application at the same moment (a clearance
            # from the central): the office refuses with concurrent-change and wrote nothing.
            if r.status_code == 409 and _code(r) == "concurrent-change":
                time.sleep(0.05 * (attempt + 1))
                continue
            if r.status_code != expect:
                raise DeskRefused(f"{role}: {method} {path} answered {r.status_code}: {r.text[:300]}")
            return r.json() if r.content else None
        raise DeskRefused(f"{role}: {method} {path} kept colliding with the link thread")


def _code(r: httpx.Response) -> str:
    try:
        return r.json().get("code", "")
    except ValueError:
        return ""


def log_in_all(url: str) -> dict[str, str]:
    roles = [r.value for r in Role if r not in (Role.WATCHLIST, Role.ADMIN)]

    def one(role: str) -> tuple[str, str]:
        r = httpx.post(f"{url}{API}/auth/token", json={"username": role, "password": PASSWORD}, timeout=HTTP_TIMEOUT)
        if r.status_code != 200:
            raise ScenarioError(f"{role} could not log in: {r.status_code} {r.text[:200]}")
        return role, r.json()["access_token"]

    with ThreadPoolExecutor(len(roles)) as pool:  # Argon2 costs ~0.2 s of server CPU each
        return dict(pool.map(one, roles))


def walk(desks: Desks, p: Person, day: date, slot: str, tally: Tally) -> None:
    """One applicant through every desk, as staff take them; turned away at the pickup desk
    when the passport is printed while the central is down."""
    call = desks.call
    if p.walk_in:
        app = call("front_desk", "POST", "/walk-ins", 201, json=p.body())
    else:
        booked = call("front_desk", "POST", "/bookings", 201, json={
            "account_ref": f"online-{p.nik}", "day": day.isoformat(), "slot": slot,
            "applicants": [p.body()], "contact_phone": p.phone, "preferred_channel": p.channel})
        app = booked["applications"][0]
    a = app["id"]
    tally.mark(tally.taken, a)
    if not p.walk_in:
        call("front_desk", "POST", f"/applications/{a}/check-in")
    kinds = ["ktp", "kk", "birth_certificate"] + (["old_passport"] if p.app_type == "renewal" else [])
    for kind in kinds:
        call("front_desk", "PUT", f"/applications/{a}/documents/{kind}", 201,
             files={"file": (f"{kind}.pdf", PDF_SCAN, "application/pdf")})
    call("front_desk", "POST", f"/applications/{a}/intake", json={})
    bill = call("cashier", "POST", f"/applications/{a}/billing", 201)
    call("cashier", "POST", "/payments", json={"billing_code": bill["billing_code"], "receipt_ref": f"BNI-{a[:8]}"})
    _capture(desks, a)
    call("interviewer", "POST", f"/applications/{a}/interview", json={"notes": "Purpose: family visit."})
    call("supervisor", "POST", f"/applications/{a}/approve")
    call("print_operator", "POST", f"/applications/{a}/print", json={})
    tally.mark(tally.printed, a)
    call("print_operator", "POST", f"/applications/{a}/quality-check", json={"passed": True})
    if tally.central_down():
        _try_handover(desks, a, p, tally)


@functools.cache
def _seed_file(name: str) -> bytes:
    return (SEED_DATA / name).read_bytes()


def _capture(desks: Desks, a: str) -> None:
    """The seed's real face photo and fingerprint (checked by the office like any capture)."""
    face, finger = _seed_file("face.jpg"), _seed_file("finger.png")
    desks.call("biometric_operator", "PUT", f"/applications/{a}/photo", 201,
               files={"file": ("face.jpg", face, "image/jpeg")})
    for pos in range(1, 10):
        desks.call("biometric_operator", "PUT", f"/applications/{a}/fingerprints/{pos}", 201,
                   files={"file": ("finger.png", finger, "image/png")})
    desks.call("biometric_operator", "POST", f"/applications/{a}/fingerprints/10/exception", 201,
               json={"exception": "injured"})
    desks.call("biometric_operator", "POST", f"/applications/{a}/capture")


def handover_body(p: Person) -> dict[str, str]:
    return {"recipient_kind": "holder", "recipient_name": p.full_name, "id_checked": "KTP", "id_nik": p.nik}


def _try_handover(desks: Desks, a: str, p: Person, tally: Tally) -> None:
    """The applicant comes to the pickup desk. A passport whose clearances the central had all
    confirmed before it died is ready and handed over; any other waits at the gate."""
    r = desks.clients["pickup_desk"].post(f"/applications/{a}/handover", json=handover_body(p))
    if r.status_code == 409 and _code(r) == "handover-gate-closed":
        tally.mark(tally.gate_waits, a)
    elif r.status_code == 200:
        tally.mark(tally.handed_over, a)
    else:
        raise DeskRefused(f"pickup_desk: handover during the outage answered {r.status_code}: {r.text[:300]}")


def worker(url: str, tokens: dict[str, str], queue: list[tuple[int, Person]], day: date, slots: list[str],
           tally: Tally, stop: threading.Event) -> None:
    desks = Desks(url, tokens)
    try:
        while not stop.is_set():
            with tally.lock:
                if not queue:
                    return
                i, person = queue.pop(0)
            try:
                walk(desks, person, day, slots[i % len(slots)], tally)
            except (DeskRefused, httpx.HTTPError) as e:
                if not stop.is_set():
                    with tally.lock:
                        tally.errors.append(f"{person.full_name}: {e}")
            with tally.lock:
                tally.finished += 1
    finally:
        desks.close()
