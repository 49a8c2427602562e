"""An office rebuilt from the central: after a restore, everything the office sent that its
backup does not hold comes back from the central (`GET /api/v1/link/history`), so nothing the
central acknowledged is lost — the mirror of `kanim central rebuild` (docs/backup.md).

Page by page, in the office's own order, each page in one transaction:

- the page's operations go into the outbox as sent, with their ids and sequence numbers (the
  relay does not send them again; a later `kanim central rebuild` gets them like any other);
- kanim/backup/replay.py folds them onto the application and booklet rows;
- the capture images come back into the vault, encrypted under the office's vault key (the
  central's reads of them are audited there);
- an operation the office already has (by id) is left alone: the rebuild can be run again, or
  stopped and started, and does nothing twice.

What never left the office does not come back (replay.py says what); the report counts what
came back and what was skipped and why.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import func, select, text, update

from kanim.backup.rejoin import raise_counters
from kanim.backup.replay import Folded, biometric_kind, fold
from kanim.bootstrap import Office
from kanim.domain.people import Sex
from kanim.protocol.numbers import highest_by_day
from kanim.store import tables as t

log = logging.getLogger("kanim.backup")
PAGE = 500


class History(Protocol):
    def history(self, *, after: int, limit: int = PAGE) -> dict[str, Any]: ...


@dataclass
class Rebuilt:
    operations: int = 0  # operations the office did not have, now in its outbox as sent
    applications: int = 0  # application rows written or brought up to date
    images: int = 0  # capture images written back into the vault
    booklets: int = 0
    renumbered: int = 0  # operations whose sequence the office had given to later work
    not_kept: int = 0  # applied by the central before it kept history: cannot come back
    decisions: int = 0  # the central's decisions read again from its feed
    skipped: list[tuple[str, str]] = field(default_factory=list)


def rebuild(office: Office, central: History, *, page: int = PAGE) -> Rebuilt:
    """Bring back what the central holds of this office after what its outbox holds as sent."""
    report = Rebuilt()
    after = _last_sent(office)
    while True:
        doc = central.history(after=after, limit=page)
        report.not_kept = int(doc.get("not_kept", 0))
        ops = doc["operations"]
        if ops:
            _apply_page(office, ops, report)
            after = max(after, int(doc["next"]))
        if not doc.get("more") or not ops:
            break
    report.decisions = _pull_feed(office, central)
    with office.uow() as uow:
        uow.audit(actor="cli", action="OfficeRebuilt", subject=office.settings.office_code,
                  detail={"operations": report.operations, "applications": report.applications,
                          "images": report.images, "decisions": report.decisions, "skipped": len(report.skipped)})
        uow.commit()
    return report


def _pull_feed(office: Office, central: History) -> int:
    """The central's decisions after the office's cursor (all of them, for an office that lost
    everything): the history holds what the office *sent*; what the central *decided* about
    its applications comes back the way it first came, through the feed, verified and applied
    once by id (kanim/link/inbox.py)."""
    from kanim.link.relay import Relay

    if not hasattr(central, "pull"):
        return 0
    relay = Relay(office, central)  # type: ignore[arg-type]
    try:
        return relay.pull_round()
    finally:
        relay.close()


def _last_sent(office: Office) -> int:
    """Where the history starts: after the newest operation the backup knew as sent. Rows that
    were pending in the backup may have reached the central since; they come back by id."""
    with office.uow(readonly=True) as uow:
        c = t.outbox.c
        return int(uow.session.execute(select(func.coalesce(func.max(c.seq), 0)).where(c.status == "sent")).scalar_one())


def _apply_page(office: Office, ops: list[dict[str, Any]], report: Rebuilt) -> None:
    with office.uow() as uow:
        s = uow.session
        c = t.outbox.c
        have = set(s.execute(select(c.id).where(c.id.in_([o["id"] for o in ops]))).scalars())
        new = [o for o in ops if o["id"] not in have]
        if not new:
            return
        subjects = {o["subject"] for o in new}
        a = t.application.c
        known = {r.id: dict(r._mapping) for r in s.execute(select(t.application).where(a.id.in_(subjects)))}
        existing = set(known)
        folded = fold(new, known, office_code=office.settings.office_code)
        _write_outbox(uow, new, report)
        _write_applications(office, uow, folded, existing, report)
        _write_booklets(uow, folded, report)
        _write_captures(office, uow, folded, report)
        report.skipped += folded.skipped
        uow.commit()


def _write_outbox(uow, ops: list[dict[str, Any]], report: Rebuilt) -> None:  # noqa: ANN001
    s = uow.session
    c = t.outbox.c
    taken = set(s.execute(select(c.seq).where(c.seq.in_([o["seq"] for o in ops]))).scalars())
    top = int(s.execute(select(func.coalesce(func.max(c.seq), 0))).scalar_one())
    rows = []
    for o in ops:
        seq = o["seq"]
        if seq in taken:  # the office took work before it rejoined: that work keeps its number
            top += 1
            seq = top
            report.renumbered += 1
        payload = {k: v for k, v in o["payload"].items() if k != "biometrics"}  # the relay reads the vault
        at = datetime.fromisoformat(o["payload"]["at"])
        rows.append(dict(seq=seq, id=o["id"], subject=o["subject"], op=o["op"], payload=payload, priority=0,
                         created_at=at, queued_at=at, status="sent", attempts=1, sent_at=uow.now()))
    s.execute(t.outbox.insert(), rows)
    if s.get_bind().dialect.name == "postgresql":
        # Explicit keys do not move the column's sequence: the next event must come after them.
        s.execute(text("SELECT setval(pg_get_serial_sequence('outbox', 'seq'), (SELECT max(seq) FROM outbox))"))
    report.operations += len(rows)


def _write_applications(office: Office, uow, folded: Folded, existing: set[str], report: Rebuilt) -> None:  # noqa: ANN001
    s = uow.session
    a = t.application.c
    for app_id in sorted(folded.changed):
        row = folded.applications[app_id]
        if row.get("booklet_serial") and not row.get("mrz_line1"):
            row["mrz_line1"], row["mrz_line2"] = _mrz(office, row)
        if app_id in existing:
            values = {k: v for k, v in row.items() if k not in ("id", "version")}
            s.execute(update(t.application).where(a.id == app_id).values(**values, version=a.version + 1))
        else:
            s.execute(t.application.insert().values(**row))
        report.applications += 1
    # A number the office holds again is never handed out again, rejoin or not.
    numbers = [folded.applications[a]["number"] for a in folded.changed if a not in existing]
    raise_counters(s, highest_by_day(office.settings.office_code, numbers))


def _mrz(office: Office, row: dict[str, Any]) -> tuple[str, str]:
    """The MRZ as the print room made it (it is not sent: it follows from the row)."""
    from kanim.office.printing import mrz_for

    app = SimpleNamespace(full_name=row["full_name"], birth_date=row["birth_date"], sex=Sex(row["sex"]))
    return mrz_for(office, app, serial=row["booklet_serial"], expires_on=row["expires_on"])  # type: ignore[arg-type]


def _write_booklets(uow, folded: Folded, report: Rebuilt) -> None:  # noqa: ANN001
    from kanim.office.printing import PATTERN

    s = uow.session
    b = t.booklet.c
    for batch in folded.batches:
        if s.execute(select(t.booklet_batch.c.id).where(t.booklet_batch.c.id == batch["id"])).first() is not None:
            continue
        s.execute(t.booklet_batch.insert().values(**batch))
        serials = PATTERN.expand(batch["first_serial"], batch["last_serial"])
        have = set(s.execute(select(b.serial).where(b.serial.in_(serials))).scalars())
        fresh = [dict(serial=x, batch_id=batch["id"], status="in_stock", received_at=batch["received_at"])
                 for x in serials if x not in have]
        if fresh:
            s.execute(t.booklet.insert(), fresh)
        report.booklets += len(fresh)
    for serial, values in folded.booklets.items():
        found = s.execute(update(t.booklet).where(b.serial == serial).values(**values))
        if found.rowcount == 0:
            folded.skipped.append((serial, "a booklet the office has no record of receiving"))


def _write_captures(office: Office, uow, folded: Folded, report: Rebuilt) -> None:  # noqa: ANN001
    """Each position's newest item: its image written to the vault (before the row that names
    it, as at the capture desk), the row replaced."""
    import uuid

    s = uow.session
    bio = t.biometric.c
    for app_id, positions in folded.captures.items():
        if app_id not in folded.changed:
            continue  # the application itself was skipped
        for position, item in sorted(positions.items()):
            image = base64.b64decode(item["data"]) if item.get("data") else None
            if image is None and not item.get("exception"):
                folded.skipped.append((app_id, f"the central no longer holds the image at position {position}"))
                continue
            if image is not None and hashlib.sha256(image).hexdigest() != item.get("sha256"):
                folded.skipped.append((app_id, f"the image at position {position} does not match its digest"))
                continue
            width, height = _size(image)
            ref = office.vault.put(image) if image is not None else None
            kind = biometric_kind(position)
            s.execute(t.biometric.delete().where(bio.application_id == app_id, bio.kind == kind,
                                                 bio.position == position))
            s.execute(t.biometric.insert().values(
                id=str(uuid.uuid4()), application_id=app_id, kind=kind, position=position,
                exception=item.get("exception"), file_ref=ref, width=width, height=height,
                quality={"rebuilt_from_central": True}, captured_at=item["captured_at"],
                captured_by=item["captured_by"]))
            report.images += image is not None


def _size(image: bytes | None) -> tuple[int | None, int | None]:
    """The image's width and height, as the capture desk stored them (None if it is no image)."""
    if image is None:
        return None, None
    import cv2
    import numpy as np

    decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
    if decoded is None:
        return None, None
    return int(decoded.shape[1]), int(decoded.shape[0])
