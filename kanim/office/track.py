"""The applicant's status lookup (`/track`, `POST /api/v1/track`): an application number and
the applicant's birth date give the public answer of kanim/domain/tracking.py.

Numbers follow a pattern (`MND-2026-000123`), so a number alone proves nothing; the birth date
is the second factor, and both are throttled with the login throttle's pure rules
(kanim/domain/throttle.py) in its table: one bucket per application number as typed (a wrong
birth date counts; an unknown number is throttled exactly like a real one, by its hash, so the
answers do not tell which numbers exist) and a looser one per client address (one phone cannot
walk through the numbers). A lookup that may be a guess is charged before it is checked and given
back when it matched, in one write transaction, so concurrent tries get no extra guesses; the
applicant's own lookup (a match, nothing counted against it) is answered from a read-only one.
Nothing typed is stored or logged: the buckets are keyed by hashes, and the audit is not
written (a lookup changes nothing).
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote
from datetime import date, timedelta

from sqlalchemy import and_, delete, select

from kanim.bootstrap import Office
from kanim.domain import throttle as rules
from kanim.domain.errors import DomainError, NotFound
from kanim.domain.tracking import Pickup, TrackAnswer, TrackFacts, answer
from kanim.office.throttle import _locked_bucket, _save, client_address  # the login throttle's storage
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

NUMBER, ADDRESS = "track", "trackadr"  # kinds in login_throttle (8 characters at most)
FORGET = timedelta(hours=6)
NUMBER_POLICY = rules.ThrottlePolicy(free_failures=3, first_delay=timedelta(seconds=30), max_delay=timedelta(hours=1),
                                     lock_after=None, lock_for=timedelta(0), forget_after=FORGET)
# An address may be a whole office's Wi-Fi or a mobile carrier's NAT: looser, but it stops a walk.
ADDRESS_POLICY = rules.ThrottlePolicy(free_failures=20, first_delay=timedelta(seconds=5), max_delay=timedelta(hours=1),
                                      lock_after=None, lock_for=timedelta(0), forget_after=FORGET)


class LookupThrottled(DomainError):
    """Too many lookups that did not match: wait `retry_after` seconds (429, Retry-After)."""

    code = "track-throttled"
    status = 429

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many lookups that did not match: try again in {seconds} s", retry_after=seconds)
        self.retry_after = seconds


def normalise(number: str) -> str:
    """A number as applicants type it: spaces around, lower case (the receipt prints upper)."""
    return "".join(number.split()).upper()


def lookup(office: Office, *, number: str, birth_date: date, address: str | None) -> TrackAnswer:
    """The public answer, or NotFound `track-not-found` (no such number, or another birth date:
    the same words either way), or LookupThrottled."""
    number, address = normalise(number), client_address(address)
    found = _read_only(office, number, birth_date, address)
    if found is not None:
        return answer(found)
    with office.uow() as uow:
        keys = _charge(uow, number, address)  # raises before anything is written
        facts = _facts(uow, number)
        matched = facts is not None and facts[1] == birth_date
        if matched:
            _give_back(uow, keys)
        _forget_quiet(uow)
        uow.commit()
    if not matched:
        raise NotFound("no application with this number and birth date", code="track-not-found")
    return answer(facts[0])


def _read_only(office: Office, number: str, birth_date: date, address: str) -> TrackFacts | None:
    """The applicant's own lookup, the common case, without the write lock (on SQLite a write
    transaction would queue behind the desks, and in an outage everyone looks at once): a match
    with no miss counted against its number or address has nothing to charge or give back. A
    waiting bucket refuses here too; anything else (a miss, a bucket to settle) takes the
    charged path, which checks again under the lock."""
    with office.uow(readonly=True) as uow:
        now, lt = uow.now(), t.login_throttle.c
        rows = uow.session.execute(select(t.login_throttle).where(lt.key.in_(_keys(number, address)))).all()
        buckets = [rules.Bucket(r.failures, r.last_failed_at, r.blocked_until, r.locked_until) for r in rows]
        wait = max((rules.retry_after(b, now) for b in buckets), default=timedelta(0))
        if wait > timedelta(0):
            raise LookupThrottled(max(1, int(-(-wait.total_seconds() // 1))))
        if any(b.failures for b in buckets):
            return None
        facts = _facts(uow, number)
    return facts[0] if facts is not None and facts[1] == birth_date else None


def _keys(number: str, address: str) -> tuple[str, str]:
    return f"{NUMBER}:{hashlib.sha256(number.encode()).hexdigest()}", f"{ADDRESS}:{address}"


def _charge(uow: UnitOfWork, number: str, address: str) -> tuple[str, str]:
    now, (nkey, akey) = uow.now(), _keys(number, address)
    # Locked in key order (track:… < trackadr:…), the same in every transaction: no deadlock.
    by_number, by_address = _locked_bucket(uow, nkey, NUMBER, None), _locked_bucket(uow, akey, ADDRESS, None)
    wait = max(rules.retry_after(by_number, now), rules.retry_after(by_address, now))
    if wait > timedelta(0):
        raise LookupThrottled(max(1, int(-(-wait.total_seconds() // 1))))
    _save(uow, nkey, rules.after_failure(by_number, now, NUMBER_POLICY))
    _save(uow, akey, rules.after_failure(by_address, now, ADDRESS_POLICY))
    return nkey, akey


def _give_back(uow: UnitOfWork, keys: tuple[str, str]) -> None:
    """The right birth date: this try was not a guess. The number starts again (the applicant
    found their own); the address gives back this one try only (others there may be guessing)."""
    nkey, akey = keys
    _save(uow, nkey, rules.after_success(rules.Bucket()))
    lt = t.login_throttle.c
    row = uow.session.execute(select(t.login_throttle).where(lt.key == akey)).one()
    bucket = rules.Bucket(row.failures, row.last_failed_at, row.blocked_until, row.locked_until)
    _save(uow, akey, rules.undo_failure(bucket, ADDRESS_POLICY))


def _forget_quiet(uow: UnitOfWork) -> None:
    """Buckets the rules would start from zero anyway: without this every number ever typed
    would keep a row."""
    lt = t.login_throttle.c
    quiet = (lt.failures == 0) | (lt.last_failed_at < uow.now() - FORGET)
    uow.session.execute(delete(t.login_throttle).where(lt.kind.in_((NUMBER, ADDRESS)), quiet))


def _facts(uow: UnitOfWork, number: str) -> tuple[TrackFacts, date] | None:
    a, p = t.application.c, t.pickup_assignment.c
    row = uow.session.execute(
        select(a.number, a.full_name, a.birth_date, a.stage, a.app_type, a.appointment_on, a.ready_by,
               a.nik_verified, a.watchlist_clear, a.not_duplicate, a.payment_confirmed, a.recorded_centrally,
               p.day, p.slot)
        .select_from(t.application.outerjoin(t.pickup_assignment, and_(p.application_id == a.id,
                                                                       p.state != "collected")))
        .where(a.number == number)).one_or_none()
    if row is None:
        return None
    clearances = [row.nik_verified, row.watchlist_clear, row.not_duplicate, row.payment_confirmed,
                  row.recorded_centrally]
    pickup = Pickup(row.day, row.slot) if row.day is not None else None
    return TrackFacts(row.number, row.full_name, row.stage, clearances, row.app_type, row.appointment_on,
                      row.ready_by, pickup), row.birth_date


def receipt_qr(settings, number: str) -> str:  # noqa: ANN001
    """What the receipt's QR code holds: the lookup with the number filled in (the birth date
    is still asked), when the office has public pages at an https address; otherwise the
    counter's own code. Applicants are told to trust only the office's https address."""
    base = (settings.public_url or "").rstrip("/")
    if base.startswith("https://") and len(base) <= 100:
        return f"{base}/track?number={quote(number)}"
    return f"KANIM:{settings.office_code}:{number}"
