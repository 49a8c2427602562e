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
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import quote

from sqlalchemy import and_, delete, func, select, update

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


# -- the one-time code (KANIM_TRACK_CODE) --------------------------------------------------------------
# Where an office wants more than a number and a birth date (both are on a family's papers), the
# lookup that matched sends a 6-digit code to the applicant's own channel instead of answering;
# the answer comes with the code. A code lives CODE_TTL, is used once, takes CODE_ATTEMPTS tries,
# and an application gets CODES_PER_HOUR codes an hour: at most 15 guesses an hour out of a
# million. The code is stored as a keyed hash; the message goes through the pipeline (urgent:
# someone waits for it on the page, quiet hours or not).

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 3


@dataclass(frozen=True)
class Challenge:
    id: str  # what the page's second form and the API's second call carry
    channel: str  # where the code went: whatsapp | sms | email (never the address)


class CodeSent(DomainError):
    """The lookup matched; the answer waits for the code sent to the applicant (401)."""

    code = "track-code-sent"
    status = 401

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(f"a 6-digit code was sent by {challenge.channel}: send it with this challenge",
                         challenge=challenge.id, channel=challenge.channel)
        self.challenge = challenge


class CodeWrong(DomainError):
    code = "track-code-wrong"
    status = 401

    def __init__(self, left: int) -> None:
        super().__init__(f"this is not the code: {left} tries left", tries_left=left)
        self.tries_left = left


class CodeGone(DomainError):
    """Expired, used, too many tries, or never made: ask for a new code (the lookup again)."""

    code = "track-code-expired"
    status = 410


class CodeUnavailable(DomainError):
    code = "track-code-unavailable"
    status = 409


def begin(office: Office, *, number: str, birth_date: date, address: str | None) -> Challenge:
    """The lookup (throttled as ever); on a match a code to the applicant's channel, not the answer."""
    lookup(office, number=number, birth_date=birth_date, address=address)  # raises NotFound / LookupThrottled
    from kanim.notify.purposes import Purpose
    from kanim.office import notify

    with office.uow() as uow:
        now = uow.now()
        application_id = uow.session.scalar(select(t.application.c.id).where(t.application.c.number == normalise(number)))
        facts = notify.load_facts(uow, application_id)
        routes = notify.channels_for(facts) if facts is not None else []
        if not routes:
            raise CodeUnavailable("no phone or email to send a code to: ask at the office or call it")
        c = t.track_code.c
        recent = uow.session.scalar(select(func.count()).where(c.application_id == application_id,
                                                               c.created_at > now - timedelta(hours=1)))
        if recent >= CODES_PER_HOUR:
            raise LookupThrottled(3600)
        challenge, code = str(uuid.uuid4()), f"{secrets.randbelow(1_000_000):06d}"
        uow.session.execute(t.track_code.insert().values(
            id=challenge, application_id=application_id, code_hash=_code_hash(office, challenge, code),
            channel=routes[0][0], attempts=0, created_at=now, expires_at=now + CODE_TTL))
        uow.session.execute(delete(t.track_code).where(c.expires_at < now - timedelta(days=1)))
        notify.create_many(uow, office.settings, [notify.Wanted(facts, Purpose.TRACK_CODE, scope=f"track:{challenge}",
                                                                params={"one_time_code": code})])
        uow.commit()
    return Challenge(challenge, routes[0][0])


def finish(office: Office, *, challenge: str, code: str) -> TrackAnswer:
    """The answer, for the right code within its time; CodeWrong (a try used) or CodeGone."""
    with office.uow() as uow:
        c = t.track_code.c
        row = uow.session.execute(select(t.track_code).where(c.id == challenge).with_for_update()).one_or_none()
        now = uow.now()
        if row is None or row.used_at is not None or row.expires_at <= now or row.attempts >= CODE_ATTEMPTS:
            raise CodeGone("this code has expired or was used: ask for a new one")
        if not hmac.compare_digest(row.code_hash, _code_hash(office, challenge, code)):
            uow.session.execute(update(t.track_code).where(c.id == challenge).values(attempts=row.attempts + 1))
            uow.commit()
            left = CODE_ATTEMPTS - row.attempts - 1
            if left <= 0:
                raise CodeGone("too many wrong codes: ask for a new one")
            raise CodeWrong(left)
        uow.session.execute(update(t.track_code).where(c.id == challenge).values(used_at=now))
        number = uow.session.scalar(select(t.application.c.number).where(t.application.c.id == row.application_id))
        facts = _facts(uow, number)
        uow.commit()
    if facts is None:
        raise CodeGone("this application is no longer here")
    return answer(facts[0])


def _code_hash(office: Office, challenge: str, code: str) -> str:
    from kanim.office.notify import address_digest

    return address_digest(office.settings, f"track-code:{challenge}:{code}")
