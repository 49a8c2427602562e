"""The intake desk's reading: who is waiting for intake today, and one applicant's file (the
checklist for the application type, each document's scan, the NIK check, other applications
for the same NIK)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.errors import InvalidInput
from kanim.domain.nik import check_nik_matches
from kanim.domain.passport import DocumentKind
from kanim.office import intake
from kanim.office.common import today
from kanim.store import tables as t

LIST_LIMIT = 100  # a desk's list; a busy day has ~400 applications, most of them past intake
OTHERS_LIMIT = 5


@dataclass(frozen=True)
class IntakeDay:
    day: date
    waiting: list[Application]  # checked in, not yet through intake: first come, first served
    held: list[Application]  # held just past intake today (a possible duplicate) for a supervisor


@dataclass(frozen=True)
class NikCheck:
    """The local NIK rules against the birth date and sex entered: None, or the rule broken."""

    code: str | None = None
    detail: str | None = None

    @property
    def passed(self) -> bool:
        return self.code is None


@dataclass(frozen=True)
class Document:
    kind: DocumentKind
    scan: dict | None  # the document_scan row (no file reference), when scanned
    needed: bool  # it would meet a line of the checklist that is not met yet


@dataclass(frozen=True)
class IntakeFile:
    app: Application
    requirements: list[dict]  # key, description, met, kinds
    missing: list[str]
    documents: list[Document]
    nik: NikCheck
    others: list[Application]  # other applications for the same NIK, newest first
    name_changed: bool
    now: datetime

    @property
    def open(self) -> bool:
        return self.app.stage is Stage.CHECKED_IN

    @property
    def next_kind(self) -> DocumentKind | None:
        """The document to scan next: the first of an unmet checklist line."""
        for r in self.requirements:
            if not r["met"]:
                return r["kinds"][0]
        return None


def intake_day(office: Office) -> IntakeDay:
    a = t.application.c
    with office.uow(readonly=True) as uow:
        day = today(office, uow)
        waiting = list(uow.session.scalars(
            select(Application).where(a.appointment_on == day, a.stage == Stage.CHECKED_IN)
            .order_by(a.updated_at, a.number).limit(LIST_LIMIT)))
        held = list(uow.session.scalars(
            select(Application).where(a.appointment_on == day, a.stage == Stage.ON_HOLD,
                                      a.held_from == Stage.INTAKE_DONE)
            .order_by(a.updated_at.desc()).limit(LIST_LIMIT)))
    return IntakeDay(day, waiting, held)


def intake_file(office: Office, application_id: str, *, name_changed: bool = False) -> IntakeFile:
    """By id or number; NotFound (404 application-not-found) otherwise."""
    a = t.application.c
    with office.uow(readonly=True) as uow:
        app = uow.applications.get(application_id)
        checklist = intake.checklist_for(office, uow, app, name_changed=name_changed)
        scans = {DocumentKind(d["kind"]): d for d in intake.documents(uow, app.id)}
        others = list(uow.session.scalars(
            select(Application).where(a.nik == app.nik, a.id != app.id)
            .order_by(a.created_at.desc()).limit(OTHERS_LIMIT)))
        now = uow.now()
    named = [k for r in checklist["requirements"] for k in r["kinds"]]
    needed = {k for r in checklist["requirements"] if not r["met"] for k in r["kinds"]}
    docs = [Document(k, scans.get(k), k in needed) for k in dict.fromkeys([*named, *scans])]
    return IntakeFile(app, checklist["requirements"], checklist["missing"], docs, nik_check(app), others,
                      name_changed, now)


def nik_check(app: Application) -> NikCheck:
    """The same rule complete_intake applies first, shown before the officer completes."""
    try:
        check_nik_matches(app.nik, sex=app.sex, birth_date=app.birth_date)
    except InvalidInput as e:
        return NikCheck(e.code, e.message)
    return NikCheck()
