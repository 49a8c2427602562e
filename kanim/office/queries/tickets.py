"""What the complaint desk reads: the queue (overdue first, then by the nearest due day), one
ticket with its entries, and the weekly report. Addresses are masked in the queue and the
report; only a ticket's own page shows what was written."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.clock import local_date
from kanim.domain.contact import masked
from kanim.domain.tickets import Clocks, Source, Standard, TicketState, clocks, days_used
from kanim.office.common import holidays, today
from kanim.office.tickets import CANNED, TicketNotFound, pauses_of, ticket_number
from kanim.store import tables as t


def standard(office: Office) -> Standard:
    s = office.settings
    return Standard(s.ticket_first_response_days, s.ticket_resolve_days)


@dataclass(frozen=True)
class TicketRow:
    id: str
    number: str
    source: str
    state: str
    subject: str
    contact: str  # masked
    channel: str
    assignee: str | None
    application_number: str | None
    lapor_ref: str | None
    opened_on: date
    clocks: Clocks

    @property
    def due(self) -> date | None:
        """The clock that matters now: the first response until given, then the resolution."""
        c = self.clocks.resolution if self.clocks.first_response.met else self.clocks.first_response
        return c.due

    @property
    def paused(self) -> bool:
        return self.state == TicketState.WAITING.value


def _local(at: datetime | None, tz: str) -> date | None:
    return None if at is None else local_date(at, tz)


def _rows(office: Office, uow: Any, where: Any) -> list[TicketRow]:
    c, a = t.ticket.c, t.application.c
    q = (select(t.ticket, a.number.label("application_number"))
         .select_from(t.ticket.outerjoin(t.application, c.application_id == a.id)).where(where))
    closed, day, tz, std = holidays(uow), today(office, uow), office.settings.timezone, standard(office)
    out = []
    for r in uow.session.execute(q):
        out.append(TicketRow(
            id=r.id, number=ticket_number(r.seq), source=r.source, state=r.state, subject=r.subject,
            contact=masked(r.address), channel=r.channel, assignee=r.assignee,
            application_number=r.application_number, lapor_ref=r.lapor_ref, opened_on=r.opened_on,
            clocks=clocks(r.opened_on, responded_on=_local(r.first_response_at, tz),
                          resolved_on=_local(r.resolved_at, tz), today=day, pauses=pauses_of(r.pauses),
                          holidays=closed, standard=std)))
    return out


def queue(office: Office, *, state: str = "") -> list[TicketRow]:
    """The tickets in hand (or those of one state): overdue first, then the nearest due day,
    paused ones last (their clock waits for the applicant)."""
    states = [state] if state else [s.value for s in TicketState if s.active]
    with office.uow(readonly=True) as uow:
        rows = _rows(office, uow, t.ticket.c.state.in_(states))
    return sorted(rows, key=lambda r: (not r.clocks.overdue, r.due is None, r.due or date.max, r.opened_on))


@dataclass(frozen=True)
class Entry:
    kind: str
    body: str
    actor: str
    at: datetime
    message_state: str | None


@dataclass(frozen=True)
class TicketView:
    row: TicketRow
    language: str
    contact_name: str
    entries: list[Entry]
    window_open: bool  # the applicant wrote on WhatsApp within 24 hours


def detail(office: Office, ticket_id: str) -> TicketView:
    e, m = t.ticket_entry.c, t.notify_message.c
    with office.uow(readonly=True) as uow:
        rows = _rows(office, uow, t.ticket.c.id == ticket_id)
        if not rows:
            raise TicketNotFound(f"no ticket {ticket_id}")
        head = uow.session.execute(select(t.ticket.c.language, t.ticket.c.contact_name, t.ticket.c.last_inbound_at)
                                   .where(t.ticket.c.id == ticket_id)).one()
        entries = [Entry(r.kind, r.body, r.actor, r.at, r.state) for r in uow.session.execute(
            select(e.kind, e.body, e.actor, e.at, m.state)
            .select_from(t.ticket_entry.outerjoin(t.notify_message, e.message_id == m.id))
            .where(e.ticket_id == ticket_id).order_by(e.id))]
        now = uow.now()
    window = head.last_inbound_at is not None and now - head.last_inbound_at < timedelta(hours=24)
    return TicketView(rows[0], head.language, head.contact_name, entries, window)


def canned(language: str) -> list[tuple[str, str]]:
    return [(key, texts.get(language, texts["id"])) for key, texts in CANNED.items()]


# -- the weekly report --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Weekly:
    start: date  # a Monday
    end: date  # the Sunday after
    by_source: dict[str, int]
    by_state: dict[str, int]
    opened: int
    responded: int
    resolved: int
    median_response_days: float | None  # working days to the first answer
    median_resolve_days: float | None
    overdue_now: int
    late_responses: int  # answered after the first-response clock ran out


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly(office: Office, start: date | None = None) -> Weekly:
    """The tickets opened in the week from Monday `start` (this week by default)."""
    with office.uow(readonly=True) as uow:
        start = week_of(start or today(office, uow))
        end = start + timedelta(days=6)
        c = t.ticket.c
        rows = _rows(office, uow, (c.opened_on >= start) & (c.opened_on <= end))
        closed = holidays(uow)
        raw = {r.id: r for r in uow.session.execute(
            select(c.id, c.first_response_at, c.resolved_at, c.pauses).where(c.opened_on >= start, c.opened_on <= end))}
    tz = office.settings.timezone
    resp, res = [], []
    for r in rows:
        x = raw[r.id]
        if x.first_response_at is not None:
            resp.append(days_used(r.opened_on, local_date(x.first_response_at, tz), pauses_of(x.pauses), closed))
        if x.resolved_at is not None:
            res.append(days_used(r.opened_on, local_date(x.resolved_at, tz), pauses_of(x.pauses), closed))
    return Weekly(
        start=start, end=end,
        by_source={s.value: sum(r.source == s.value for r in rows) for s in Source},
        by_state={s.value: sum(r.state == s.value for r in rows) for s in TicketState},
        opened=len(rows), responded=len(resp), resolved=len(res),
        median_response_days=_median(resp), median_resolve_days=_median(res),
        overdue_now=sum(r.clocks.overdue for r in rows),
        late_responses=sum(r.clocks.first_response.met and r.clocks.first_response.late for r in rows))


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    v, n = sorted(values), len(values)
    return float(v[n // 2]) if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def weekly_csv(report: Weekly) -> str:
    """One row per figure (`figure,key,value`): a spreadsheet opens it as it is."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["week_start", "figure", "key", "value"])
    for key, n in report.by_source.items():
        w.writerow([report.start.isoformat(), "opened_by_source", key, n])
    for key, n in report.by_state.items():
        w.writerow([report.start.isoformat(), "by_state_now", key, n])
    for figure in ("opened", "responded", "resolved", "median_response_days", "median_resolve_days",
                   "overdue_now", "late_responses"):
        value = getattr(report, figure)
        w.writerow([report.start.isoformat(), figure, "", "" if value is None else value])
    return out.getvalue()
