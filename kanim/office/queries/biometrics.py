"""The photo and fingerprint desk's reading: who waits for capture, and where one applicant's
capture stands (the face photo, each of the ten fingers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.fingers import FingerPosition
from kanim.office import capture
from kanim.store import tables as t

QUEUE_LIMIT = 50


@dataclass(frozen=True)
class Queue:
    """The first `QUEUE_LIMIT` applications of a stage, and how many wait in all."""

    applications: list[Application]
    total: int


@dataclass(frozen=True)
class Finger:
    position: FingerPosition
    required: bool  # the office captures this finger (KANIM_FINGERPRINT_POSITIONS)
    exception: str | None = None  # missing | injured | unreadable
    captured_at: datetime | None = None

    @property
    def state(self) -> str:
        """waiting, captured or excepted: what the desk shows at a glance."""
        if self.captured_at is None:
            return "waiting"
        return "excepted" if self.exception else "captured"


@dataclass(frozen=True)
class Capture:
    application: Application
    photo: dict[str, Any] | None  # width, height, quality, captured_at of the accepted photo
    fingers: list[Finger]

    @property
    def open(self) -> bool:
        """Whether photo and fingers may be captured now: intake done and paid, as the domain
        requires (Application.require_capture_open)."""
        return self.application.stage is Stage.INTAKE_DONE and self.application.paid_at is not None

    @property
    def gaps(self) -> list[Finger]:
        return [f for f in self.fingers if f.required and f.state == "waiting"]


def capture_queue(office: Office, *, limit: int = QUEUE_LIMIT) -> Queue:
    """Intake done: the paid ones first (they may be captured now) in the order they paid, then
    those still waiting for the cashier."""
    a = t.application.c
    waiting = a.stage == Stage.INTAKE_DONE
    with office.uow(readonly=True) as uow:
        apps = list(uow.session.scalars(
            select(Application).where(waiting)
            .order_by(a.paid_at.is_(None), a.paid_at, a.number).limit(limit)))
        total = uow.session.execute(select(func.count()).where(waiting)).scalar_one()
    return Queue(apps, total)


def capture_state(office: Office, application_id: str) -> Capture:
    """One applicant's capture: the application, its accepted photo (no image) and each finger."""
    with office.uow(readonly=True) as uow:
        app = uow.applications.get(application_id)
        summary = capture.summary(uow, app.id)
    by_position = {f["position"]: f for f in summary["fingerprints"]}
    required = set(office.settings.fingerprint_positions)
    fingers = [Finger(p, p in required, **_finger(by_position.get(int(p)))) for p in FingerPosition]
    return Capture(app, summary["photo"], fingers)


def _finger(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {"exception": row["exception"], "captured_at": row["captured_at"]}
