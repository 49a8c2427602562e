"""The print room's reading: the print queue with what holds each job back, the jobs printed and
waiting for their quality check, the booklet stock, and the accountability report with the
batches and spoiled booklets it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.booklet import AccountabilityReport, Booklet, BookletStatus
from kanim.domain.clearances import Shortfall, print_gate_shortfalls
from kanim.domain.guardrails import Guardrail
from kanim.office.chip import SignerState, signer_state
from kanim.office.printing import accountability_in, guardrail_stops
from kanim.store import tables as t

QUEUE_LIMIT = 25  # a print room prints a few hundred a day: the oldest first, the rest counted (and the page small)
PRINTED_LIMIT = 25
BATCH_LIMIT = 20
SPOILED_LIMIT = 200


@dataclass(frozen=True)
class Job:
    """One approved application in the print queue, and what holds it back."""

    app: Application
    shortfalls: list[Shortfall]  # the print gate's, from its clearances
    held_by_guardrails: bool  # it prints on provisional clearances, and those are stopped

    @property
    def may_print(self) -> bool:
        return not self.shortfalls and not self.held_by_guardrails


@dataclass(frozen=True)
class Stock:
    in_stock: int
    next_serial: str | None
    batches: list[dict]


@dataclass(frozen=True)
class PrintRoom:
    jobs: list[Job]
    queued: int  # all approved, of which `jobs` are the first
    guardrails: list[Guardrail]  # why provisional printing is stopped, office-wide
    printed: list[Application]  # waiting for their quality check
    printed_count: int
    stock: Stock
    chip: SignerState | None = None  # whether electronic passports get their chip (docs/chip.md)


@dataclass(frozen=True)
class Report:
    at: datetime
    counts: AccountabilityReport
    batches: list[dict]
    spoiled: list[Booklet]
    spoiled_shown_all: bool


def print_room(office: Office) -> PrintRoom:
    policy = office.print_policy
    c = t.application.c
    with office.uow(readonly=True) as uow:
        rails = guardrail_stops(office, uow)
        approved = list(uow.session.scalars(select(Application).where(c.stage == Stage.APPROVED)
                                            .order_by(c.decided_at, c.number).limit(QUEUE_LIMIT)))
        printed = list(uow.session.scalars(select(Application).where(c.stage == Stage.PRINTED)
                                           .order_by(c.printed_at, c.number).limit(PRINTED_LIMIT)))
        counts = _count_stages(uow, Stage.APPROVED, Stage.PRINTED)
        stock = _stock(uow)
        signer = signer_state(uow, required=office.settings.chip_required)
    jobs = [Job(a, print_gate_shortfalls(a.clearances, policy),
                bool(rails) and not a.clearances_confirmed(policy.required)) for a in approved]
    return PrintRoom(jobs, counts[Stage.APPROVED], rails, printed, counts[Stage.PRINTED], stock, signer)


def stock(office: Office) -> Stock:
    with office.uow(readonly=True) as uow:
        return _stock(uow)


def report(office: Office) -> Report:
    """The accountability report, with the batches and spoiled booklets it counts, read in one
    transaction so the lists and the totals agree."""
    with office.uow(readonly=True) as uow:
        counts = accountability_in(uow)
        spoiled = list(uow.session.scalars(select(Booklet).where(t.booklet.c.status == BookletStatus.SPOILED)
                                           .order_by(t.booklet.c.spoiled_at.desc()).limit(SPOILED_LIMIT)))
        return Report(uow.now(), counts, _batches(uow, limit=None), spoiled, counts.spoiled <= SPOILED_LIMIT)


def job(office: Office, application_id: str) -> Application:
    with office.uow(readonly=True) as uow:
        return uow.applications.get(application_id)


def _count_stages(uow, *stages: Stage) -> dict[Stage, int]:  # noqa: ANN001
    c = t.application.c
    rows = dict(uow.session.execute(select(c.stage, func.count()).where(c.stage.in_(stages)).group_by(c.stage)).all())
    return {s: rows.get(s, 0) for s in stages}


def _stock(uow) -> Stock:  # noqa: ANN001
    b = t.booklet.c
    in_stock = uow.session.execute(select(func.count()).where(b.status == BookletStatus.IN_STOCK)).scalar_one()
    first = uow.session.execute(select(func.min(b.serial)).where(b.status == BookletStatus.IN_STOCK)).scalar()
    return Stock(in_stock, first, _batches(uow, limit=BATCH_LIMIT))


def _batches(uow, *, limit: int | None) -> list[dict]:  # noqa: ANN001
    bb = t.booklet_batch.c
    q = select(bb.first_serial, bb.last_serial, bb["count"], bb.received_at, bb.received_by) \
        .order_by(bb.received_at.desc(), bb.first_serial.desc())
    return [dict(r._mapping) for r in uow.session.execute(q if limit is None else q.limit(limit))]
