"""Intake counter: scan the original documents, check the NIK locally, check the watch-list
snapshot and the office's own records for duplicates."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta

from sqlalchemy import delete, select

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.errors import InvalidInput
from kanim.domain.nik import check_nik_matches
from kanim.domain.passport import DocumentKind, age_on, missing_documents, requirements_for
from kanim.office.common import today, retry_on_concurrent_change
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

# What a scan may be, recognised by its first bytes (the declared content type is not trusted).
SCAN_SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"%PDF-": "application/pdf",
}
MINOR_AGE = 17


def sniff_scan(data: bytes) -> str:
    for magic, content_type in SCAN_SIGNATURES.items():
        if data.startswith(magic):
            return content_type
    raise InvalidInput("a document scan must be a JPEG, PNG or PDF file", code="scan-type")


def upload_document(office: Office, *, application_id: str, kind: str, data: bytes, actor: str) -> dict:
    kind = _document_kind(kind)
    if len(data) > office.settings.max_upload_bytes:
        raise InvalidInput(f"the scan is {len(data)} bytes; the limit is {office.settings.max_upload_bytes}",
                           code="upload-too-large")
    if not data:
        raise InvalidInput("the scan is empty", code="scan-empty")
    content_type = sniff_scan(data)
    with office.vault.staged(data) as ref, office.uow() as uow:
        app = uow.applications.get(application_id)
        app.require_intake_open()
        old = uow.session.execute(select(t.document_scan.c.file_ref).where(
            t.document_scan.c.application_id == app.id, t.document_scan.c.kind == kind)).scalar()
        uow.session.execute(delete(t.document_scan).where(
            t.document_scan.c.application_id == app.id, t.document_scan.c.kind == kind))
        row = dict(id=str(uuid.uuid4()), application_id=app.id, kind=kind.value, file_ref=ref,
                   content_type=content_type, size_bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest(), uploaded_at=uow.now(), uploaded_by=actor)
        uow.session.execute(t.document_scan.insert().values(**row))
        uow.audit(actor=actor, action="DocumentScanned", subject=app.id,
                  detail={"kind": kind.value, "size_bytes": len(data)})
        uow.commit()
    if old:
        office.vault.delete(old)  # replaced scan: only after the new row is committed
    return {k: v for k, v in row.items() if k != "file_ref"}


def documents(uow: UnitOfWork, application_id: str) -> list[dict]:
    rows = uow.session.execute(
        select(t.document_scan).where(t.document_scan.c.application_id == application_id)
        .order_by(t.document_scan.c.kind)
    ).mappings().all()
    return [{k: v for k, v in r.items() if k != "file_ref"} for r in rows]


def checklist(office: Office, *, application_id: str, name_changed: bool = False) -> dict:
    with office.uow(readonly=True) as uow:  # a desk re-reads it after every scan: no write lock
        return checklist_for(office, uow, uow.applications.get(application_id), name_changed=name_changed)


def checklist_for(office: Office, uow: UnitOfWork, app: Application, *, name_changed: bool = False) -> dict:
    """The checklist of `app` inside the caller's unit of work (a desk's page reads it with the rest)."""
    present = _present(uow, app.id)
    minor = age_on(app.birth_date, today(office, uow)) < MINOR_AGE
    reqs = requirements_for(app.app_type, name_changed=name_changed, minor=minor)
    return {
        # `key` and `kinds` let a desk name each line in its own words and offer its scans.
        "requirements": [{"key": r.key, "description": r.description, "met": r.met_by(present),
                          "kinds": [k for k in DocumentKind if k in r.any_of]} for r in reqs],
        "missing": missing_documents(app.app_type, present, name_changed=name_changed, minor=minor),
    }


@retry_on_concurrent_change
def complete_intake(office: Office, *, application_id: str, actor: str, name_changed: bool = False) -> Application:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        check_nik_matches(app.nik, sex=app.sex, birth_date=app.birth_date)
        day = today(office, uow)
        present = _present(uow, app.id)
        minor = age_on(app.birth_date, day) < MINOR_AGE
        hit, fresh = watchlist_match(office, uow, nik=app.nik, day=day)
        dup = uow.applications.open_for_nik(app.nik, excluding=app.id, today=day)
        app.complete_intake(
            missing_documents=missing_documents(app.app_type, present, name_changed=name_changed, minor=minor),
            documents=[k.value for k in present],
            watchlist_hit=hit, watchlist_fresh=fresh,
            local_duplicate=f"open application {dup.number} ({dup.stage.value}) for the same NIK" if dup else None,
            at=uow.now(), actor=actor,
        )
        uow.commit()
    return app


def watchlist_match(office: Office, uow: UnitOfWork, *, nik: str, day: date) -> tuple[str | None, bool]:
    """(reason of a matching order, whether the snapshot is fresh enough to clear provisionally).

    A match counts even in a stale snapshot: an order that was in force is not ignored because
    the list is old."""
    snap = uow.session.execute(
        select(t.watchlist_snapshot).order_by(t.watchlist_snapshot.c.taken_at.desc()).limit(1)
    ).first()
    if snap is None:
        return None, False
    e = t.watchlist_entry.c
    hit = uow.session.execute(
        select(t.watchlist_entry).where(
            e.snapshot_id == snap.id, e.subject_kind == "nik", e.subject_value == nik,
            e.starts_on <= day, e.ends_on >= day,
        )
    ).first()
    fresh = uow.now() - snap.taken_at <= timedelta(days=office.settings.watchlist_max_age_days)
    if hit:
        return f"{hit.order_kind} order by {hit.agency} until {hit.ends_on.isoformat()}: {hit.reason}", fresh
    return None, fresh


def _present(uow: UnitOfWork, application_id: str) -> set[DocumentKind]:
    kinds = uow.session.scalars(select(t.document_scan.c.kind).where(t.document_scan.c.application_id == application_id))
    return {DocumentKind(k) for k in kinds}


def _document_kind(kind: str) -> DocumentKind:
    try:
        return DocumentKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in DocumentKind)
        raise InvalidInput(f"unknown document kind {kind!r}; one of {allowed}", code="document-kind") from None
