"""The supervisor's reading: the approval queue, the holds with their reasons (the office's
own, and the central's decisions as the audit log recorded them), and the link's dead letters."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.link import views
from kanim.office import capture
from kanim.office.queries.biometrics import QUEUE_LIMIT, Queue
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

DEAD_LETTER_LIMIT = 50
# The events' names in the audit log (kanim.domain.events).
CLEARANCE_CHANGED, PUT_ON_HOLD = "ClearanceChanged", "ApplicationPutOnHold"


@dataclass(frozen=True)
class Decision:
    """One change of a clearance, as recorded: who decided (the office's own rules or the
    central), what it became, and the reason given."""

    at: datetime
    kind: str
    new: str
    reason: str
    source: str  # office | central


@dataclass(frozen=True)
class Held:
    application: Application
    decisions: list[Decision]  # newest first
    held_at: datetime | None = None  # when it was last put on hold
    has_photo: bool = False  # an accepted face photo is stored (known only for one under review)

    @property
    def flagged(self) -> list[str]:
        return [k.value for k in self.application.clearances.flagged()]

    @property
    def central(self) -> list[Decision]:
        return [d for d in self.decisions if d.source == "central"]


@dataclass(frozen=True)
class Holds:
    held: list[Held]
    total: int


@dataclass(frozen=True)
class DeadLetter:
    id: str
    seq: int
    op: str
    application_number: str | None
    application_id: str
    attempts: int
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class DeadLetters:
    letters: list[DeadLetter]
    more: bool  # more than the page shows


def approval_queue(office: Office, *, limit: int = QUEUE_LIMIT) -> Queue:
    """Interviewed applications, the earliest interview first."""
    a = t.application.c
    waiting = a.stage == Stage.INTERVIEWED
    with office.uow(readonly=True) as uow:
        apps = list(uow.session.scalars(
            select(Application).where(waiting).order_by(a.interviewed_at, a.number).limit(limit)))
        total = uow.session.execute(select(func.count()).where(waiting)).scalar_one()
    return Queue(apps, total)


def holds(office: Office, *, limit: int = QUEUE_LIMIT) -> Holds:
    """Applications on hold in the order they were made, each with its clearance decisions and
    when it was held."""
    a = t.application.c
    held = a.stage == Stage.ON_HOLD
    with office.uow(readonly=True) as uow:
        apps = list(uow.session.scalars(select(Application).where(held).order_by(a.number).limit(limit)))
        total = uow.session.execute(select(func.count()).where(held)).scalar_one()
        decisions, held_at = _decisions(uow, [app.id for app in apps])
    return Holds([Held(app, decisions.get(app.id, []), held_at.get(app.id)) for app in apps], total)


def review(office: Office, application_id: str) -> Held:
    """One application with every clearance decision recorded for it."""
    b = t.biometric.c
    with office.uow(readonly=True) as uow:
        app = uow.applications.get(application_id)
        decisions, held_at = _decisions(uow, [app.id])
        photo = uow.session.execute(select(b.id).where(b.application_id == app.id, b.kind == capture.FACE,
                                                       b.file_ref.is_not(None)).limit(1)).first()
    return Held(app, decisions.get(app.id, []), held_at.get(app.id), has_photo=photo is not None)


def _decisions(uow: UnitOfWork, ids: list[str]) -> tuple[dict[str, list[Decision]], dict[str, datetime]]:
    """Clearance changes of these applications, newest first, and when each was last put on
    hold: one query for the whole page."""
    out: dict[str, list[Decision]] = defaultdict(list)
    held_at: dict[str, datetime] = {}
    if not ids:
        return out, held_at
    e = t.audit_event.c
    rows = uow.session.execute(select(e.subject, e.at, e.action, e.detail).where(
        e.subject.in_(ids), e.action.in_([CLEARANCE_CHANGED, PUT_ON_HOLD])).order_by(e.seq.desc()))
    for subject, at, action, d in rows:
        if action == PUT_ON_HOLD:
            held_at.setdefault(subject, at)
        else:
            out[subject].append(Decision(at, d.get("kind", ""), d.get("new", ""), d.get("reason", ""),
                                         d.get("source", "")))
    return out, held_at


def dead_letters(office: Office, *, limit: int = DEAD_LETTER_LIMIT) -> DeadLetters:
    """The link's dead letters (kanim.link.views), each with its application's number."""
    rows = views.dead_letters(office, limit=limit + 1)
    subjects = sorted({r["subject"] for r in rows})
    numbers: dict[str, str] = {}
    if subjects:
        with office.uow(readonly=True) as uow:
            a = t.application.c
            numbers = dict(uow.session.execute(select(a.id, a.number).where(a.id.in_(subjects))).all())
    letters = [DeadLetter(r["id"], r["seq"], r["op"], numbers.get(r["subject"]), r["subject"], r["attempts"],
                          r["error"], r["created_at"]) for r in rows[:limit]]
    return DeadLetters(letters, len(rows) > limit)
