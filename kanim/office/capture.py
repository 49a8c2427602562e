"""Photo and fingerprint desk. Images are checked (OpenCV) before any lock is taken, stored
encrypted, and every read of them is audited."""

from __future__ import annotations

import uuid
from contextlib import nullcontext

from sqlalchemy import delete, select

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.errors import InvalidInput, NotFound
from kanim.domain.fingers import FingerException, FingerPosition, parse_position
from kanim.office.common import retry_on_concurrent_change
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

FACE = "face"
FINGERPRINT = "fingerprint"


# The image checks (OpenCV, numpy) are imported at the first capture, not with this module: the
# routers import it, and every `kanim` process would pay 0.15 s at start for them.

def upload_photo(office: Office, *, application_id: str, data: bytes, actor: str) -> dict:
    from kanim.biometrics.photo import check_photo

    report = check_photo(data, office.photo_policy)
    quality = {"face_box": list(report.face_box), "face_height_ratio": round(report.face_height_ratio, 3),
               "background_mean": round(report.background_mean, 1),
               "background_std": round(report.background_std, 1)}
    return _store(office, application_id=application_id, kind=FACE, position=0,
                  data=report.normalized_jpeg, width=report.width, height=report.height,
                  quality=quality, exception=None, actor=actor)


def upload_fingerprint(office: Office, *, application_id: str, position: int | str, data: bytes,
                       actor: str) -> dict:
    from kanim.biometrics.fingerprint import check_fingerprint

    pos = _position(office, position)
    report = check_fingerprint(data, office.fingerprint_policy)
    return _store(office, application_id=application_id, kind=FINGERPRINT, position=int(pos),
                  data=report.normalized_png, width=report.width, height=report.height,
                  quality={"ridge_share": report.ridge_share, "ridge_period": report.ridge_period},
                  exception=None, actor=actor)


def record_finger_exception(office: Office, *, application_id: str, position: int | str,
                            exception: str, actor: str) -> dict:
    pos = _position(office, position)
    try:
        exc = FingerException(exception)
    except ValueError:
        allowed = ", ".join(e.value for e in FingerException)
        raise InvalidInput(f"unknown finger exception {exception!r}; one of {allowed}",
                           code="fingerprint-exception") from None
    return _store(office, application_id=application_id, kind=FINGERPRINT, position=int(pos),
                  data=None, width=None, height=None, quality={}, exception=exc, actor=actor)


@retry_on_concurrent_change
def complete_capture(office: Office, *, application_id: str, actor: str) -> Application:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        rows = _rows(uow, app.id)
        captured = {r.position: r for r in rows if r.kind == FINGERPRINT}
        gaps = [FingerPosition(p).label for p in office.settings.fingerprint_positions if p not in captured]
        app.complete_capture(
            has_photo=any(r.kind == FACE for r in rows), fingerprint_gaps=gaps,
            fingerprints=sum(1 for r in captured.values() if r.exception is None),
            exceptions=sum(1 for r in captured.values() if r.exception is not None),
            at=uow.now(), actor=actor,
        )
        uow.commit()
    return app


def summary(uow: UnitOfWork, application_id: str) -> dict:
    rows = _rows(uow, application_id)
    return {
        "photo": next(({"width": r.width, "height": r.height, "quality": r.quality,
                        "captured_at": r.captured_at} for r in rows if r.kind == FACE), None),
        "fingerprints": [
            {"position": r.position, "label": FingerPosition(r.position).label,
             "exception": r.exception.value if r.exception else None, "captured_at": r.captured_at}
            for r in rows if r.kind == FINGERPRINT
        ],
    }


def read_biometric(office: Office, *, application_id: str, kind: str, position: int, actor: str,
                   purpose: str) -> bytes:
    """Decrypt one image. The read is audited in its own committed transaction before the
    bytes are returned: a read that happened is never missing from the log."""
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        row = uow.session.execute(select(t.biometric).where(
            t.biometric.c.application_id == app.id, t.biometric.c.kind == kind,
            t.biometric.c.position == position)).first()
        if row is None or row.file_ref is None:
            raise NotFound(f"no {kind} image at position {position} for {app.number}", code="biometric-not-found")
        uow.audit(actor=actor, action="BiometricRead", subject=app.id,
                  detail={"kind": kind, "position": position, "purpose": purpose})
        uow.commit()
    return office.vault.get(row.file_ref)


def _store(office: Office, *, application_id: str, kind: str, position: int, data: bytes | None,
           width: int | None, height: int | None, quality: dict, exception: FingerException | None,
           actor: str) -> dict:
    with (office.vault.staged(data) if data is not None else nullcontext()) as ref, office.uow() as uow:
        app = uow.applications.get(application_id)
        app.require_capture_open()
        b = t.biometric.c
        old = uow.session.execute(select(b.file_ref).where(
            b.application_id == app.id, b.kind == kind, b.position == position)).scalar()
        uow.session.execute(delete(t.biometric).where(
            b.application_id == app.id, b.kind == kind, b.position == position))
        row = dict(id=str(uuid.uuid4()), application_id=app.id, kind=kind, position=position,
                   exception=exception, file_ref=ref, width=width, height=height, quality=quality,
                   captured_at=uow.now(), captured_by=actor)
        uow.session.execute(t.biometric.insert().values(**row))
        uow.audit(actor=actor, action="BiometricCaptured", subject=app.id,
                  detail={"kind": kind, "position": position,
                          "exception": exception.value if exception else None})
        uow.commit()
    if old:
        office.vault.delete(old)
    out = {k: v for k, v in row.items() if k not in ("file_ref",)}
    out["exception"] = exception.value if exception else None
    return out


def _position(office: Office, value: int | str) -> FingerPosition:
    pos = parse_position(value)
    if int(pos) not in office.settings.fingerprint_positions:
        raise InvalidInput(f"finger position {int(pos)} is not captured at this office",
                           code="fingerprint-position")
    return pos


def _rows(uow: UnitOfWork, application_id: str) -> list:
    return list(uow.session.execute(select(t.biometric).where(t.biometric.c.application_id == application_id)))
