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
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import func, select, text, update

from kanim.backup.rejoin import raise_counters
from kanim.backup.replay import NO_IDENTITY, Folded, biometric_kind, fold
from kanim.bootstrap import Office
from kanim.domain.people import Sex
from kanim.protocol.numbers import highest_by_day
from kanim.security.filemodes import FILE_MODE
from kanim.store import tables as t

PAGE = 500
MAX_WAITING = 2000  # operations held for an identity a later page may bring


class History(Protocol):
    def history(self, *, after: int, after_id: str = "", limit: int = PAGE, challenge: str = "") -> dict[str, Any]: ...


class RebuildError(ValueError):
    """The rebuild cannot go on; the message is one line for the operator."""


@dataclass
class Rebuilt:
    operations: int = 0  # operations the office did not have, now in its outbox as sent
    applications: int = 0  # application rows written or brought up to date
    images: int = 0  # capture images written back into the vault
    booklets: int = 0
    renumbered: int = 0  # operations kept under another sequence number (two sent under one)
    not_kept: int = 0  # applied by the central before it kept history: cannot come back
    decisions: int = 0  # the central's events applied from its feed afterwards
    skipped: list[tuple[str, str]] = field(default_factory=list)


# Written by `kanim restore` and `kanim backup install-keys`, removed by a rejoin that finished:
# where the history starts (the newest operation the backup held as sent), and the sign that
# this node must rejoin before it serves (kanim/cli.py `serve`).
MARKER = "rejoin-needed.json"


def mark_rejoin_needed(data_dir: Path, *, after: int | None) -> None:
    """`after` None: read it from the node's database when the rejoin runs (a PostgreSQL node,
    whose cluster is not running when it is restored)."""
    path = data_dir / MARKER
    path.write_text(json.dumps({"after": after}) + "\n")
    path.chmod(FILE_MODE)


def rejoin_needed(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MARKER
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        return {"after": None if doc["after"] is None else int(doc["after"])}
    except (ValueError, KeyError, TypeError):
        raise RebuildError(f"{path} is damaged: it should say {{\"after\": N}}; N is the newest sequence the "
                           "restored outbox holds as sent (0 for a new node)") from None


def last_sent(office: Office, *, at_most: int | None = None) -> int:
    """The newest outbox sequence the node holds as sent (0 for none): where its history starts."""
    with office.uow(readonly=True) as uow:
        c = t.outbox.c
        q = select(func.coalesce(func.max(c.seq), 0)).where(c.status == "sent")
        if at_most is not None:
            q = q.where(c.seq <= at_most)
        return int(uow.session.execute(q).scalar_one())


def last_sent_in(db: Path) -> int:
    """The same, read from a restored SQLite file before any node opens it (`kanim restore`)."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT coalesce(max(seq), 0) FROM outbox WHERE status = 'sent'").fetchone()[0])
    finally:
        con.close()


def rebuild(office: Office, central: History, *, page: int = PAGE) -> Rebuilt:
    """Bring back what the central holds of this office after where its backup stopped, then
    the central's feed. The marker stays until `finish_rejoin`: the node serves only after."""
    report = Rebuilt()
    marker = rejoin_needed(office.settings.data_dir)
    after = marker["after"] if marker and marker["after"] is not None else last_sent(office)
    after_id = ""
    feed_cursor = 0
    waiting: list[dict[str, Any]] = []  # an application's operations held for its identity (next page)
    first = True
    while True:
        challenge = secrets.token_urlsafe(16)
        doc = _verified(office, central.history(after=after, after_id=after_id, limit=page, challenge=challenge),
                        after, after_id, challenge)
        if first and int(doc["last_seq"]) < after:
            # Rows above everything the central holds (kept under new numbers by a rejoin that
            # was itself backed up and restored): start from the last one the central knows.
            after, first = last_sent(office, at_most=int(doc["last_seq"])), False
            continue
        first = False
        report.not_kept, feed_cursor = int(doc["not_kept"]), int(doc["feed_cursor"])
        last = not doc["more"] or not doc["operations"]
        if doc["operations"] or waiting:
            waiting = _apply_page(office, waiting + doc["operations"], int(doc["last_seq"]), report, last=last)
        after, after_id = int(doc["next"]), str(doc["next_id"])
        if last:
            break
    report.decisions = _pull_feed(office, central, rebuilds_seen=feed_cursor)
    with office.uow() as uow:
        uow.audit(actor="cli", action="OfficeRebuilt", subject=office.settings.office_code,
                  detail={"operations": report.operations, "applications": report.applications,
                          "images": report.images, "decisions": report.decisions, "skipped": len(report.skipped)})
        uow.commit()
    return report


def finish_rejoin(data_dir: Path) -> None:
    """The rejoin is whole (history, feed, numbers): the node may serve."""
    (data_dir / MARKER).unlink(missing_ok=True)


def _verified(office: Office, doc: dict[str, Any], after: int, after_id: str, challenge: str) -> dict[str, Any]:
    """The page as the central signed it, for this office, the place asked for and this very
    request (its challenge); rows go into the outbox as sent on its word, so a page nobody can
    vouch for is never written."""
    from kanim.protocol.signing import SignatureError, verify_document

    key = office.settings.central_public_key
    if not key:
        raise RebuildError("KANIM_CENTRAL_PUBLIC_KEY is not set: what the central gives back cannot be verified "
                           "(the central's operator prints it with `kanim central key`)")
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        verify_document(key, body, str(doc.get("signature", "")))
    except SignatureError:
        raise RebuildError("the central's history does not verify with KANIM_CENTRAL_PUBLIC_KEY: nothing was "
                           "written from it (is the key the central's? `kanim central key` prints it)") from None
    asked = (office.settings.office_code, after, after_id, challenge)
    if (body.get("office"), body.get("after"), body.get("after_id"), body.get("challenge")) != asked:
        raise RebuildError("the central's history is for another office, another place or an earlier request: "
                           "nothing was written from it")
    return body


def _pull_feed(office: Office, central: History, *, rebuilds_seen: int) -> int:
    """The central's feed after the office's cursor, to its end, but for what the history already
    holds: a decision the office applied recorded its id in the ClearanceChanged it sent
    (`decision`), and applying it again could undo what came after (a flag long lifted would
    hold the application again and void its new booklet). A decision whose effect never reached
    the central is applied, as it should be. Rebuild requests the office had read (the central
    recorded how far: `rebuilds_seen`) are not applied again either: each would send the whole
    history once more. Allocations, watch-list changes and revocation lists are applied: the
    history does not carry what the office received."""
    from kanim.link import inbox
    from kanim.protocol.operations import EventKind
    from kanim.protocol.wire import InboxPage

    if not hasattr(central, "pull"):
        return 0
    reflected = _decisions_sent(office)

    def applies(e) -> bool:  # noqa: ANN001 - a CentralEvent
        if e.kind == EventKind.CLEARANCE:
            return e.id not in reflected
        return not (e.kind == EventKind.REBUILD and e.seq is not None and e.seq <= rebuilds_seen)

    applied = 0
    while True:
        cursor = inbox.cursor(office)
        page = central.pull(after=cursor)
        counts = inbox.apply_page(office, InboxPage([e for e in page.events if applies(e)], page.next_cursor,
                                                    page.central_id, page.last_seq))
        applied += sum(n for k, n in counts.items() if k not in ("blocked", "central_changed"))
        if "central_changed" in counts:
            continue  # read from its start again (events already applied are skipped by id)
        if "blocked" in counts:
            raise RebuildError("the central's feed stops at an event that does not verify (`kanim link status` says "
                               "which); the rest of the rejoin is done: run it again once it verifies")
        if not page.events or page.last_seq is None or page.next_cursor >= page.last_seq:
            return applied


def _decisions_sent(office: Office) -> set[str]:
    """The central's decisions whose effect the office recorded and sent (ClearanceChanged)."""
    with office.uow(readonly=True) as uow:
        c = t.outbox.c
        payloads = uow.session.execute(select(c.payload).where(c.op == "ClearanceChanged")).scalars()
        return {p["decision"] for p in payloads if isinstance(p, dict) and p.get("decision")}


def _apply_page(office: Office, ops: list[dict[str, Any]], last_seq: int, report: Rebuilt, *,
                last: bool) -> list[dict[str, Any]]:
    """Write a page; returns the operations of applications whose identity is not in it yet (an
    ApplicationBooked of an older office, its intake on a later page): they wait for the next
    page, unless this is the last, where they are reported."""
    with office.uow() as uow:
        s = uow.session
        c = t.outbox.c
        have = set(s.execute(select(c.id).where(c.id.in_([o["id"] for o in ops]))).scalars())
        new = [o for o in ops if o["id"] not in have]
        if not new:
            return []
        subjects = {o["subject"] for o in new}
        a = t.application.c
        known = {r.id: dict(r._mapping) for r in s.execute(select(t.application).where(a.id.in_(subjects)))}
        existing = set(known)
        folded = fold(new, known, office_code=office.settings.office_code)
        unnamed = {what for what, why in folded.skipped if why == NO_IDENTITY}
        wait = [o for o in new if o["subject"] in unnamed] if not last else []
        if len(wait) > MAX_WAITING:
            wait = []  # bookings that never came to intake, by the thousand: reported, not carried on
        if wait:
            new = [o for o in new if o["subject"] not in unnamed]
            folded = fold(new, known, office_code=office.settings.office_code)  # without them
        _write_outbox(uow, new, last_seq, report)
        _write_applications(office, uow, folded, existing, report)
        _write_booklets(uow, folded, report)
        _write_captures(office, uow, folded, report)
        report.skipped += folded.skipped
        os.sync()  # the page's vault files on disk before the rows that name them commit
        uow.commit()
    return wait


def _write_outbox(uow, ops: list[dict[str, Any]], last_seq: int, report: Rebuilt) -> None:  # noqa: ANN001
    """The operations as sent, under their own sequence numbers. One whose number the office
    already holds for another operation (an office restored before rejoins existed sent two
    under one number) is kept under a number above every one the central holds, which no later
    page can ask for."""
    if not ops:
        return
    s = uow.session
    c = t.outbox.c
    taken = set(s.execute(select(c.seq).where(c.seq.in_([o["seq"] for o in ops]))).scalars())
    top = max(int(s.execute(select(func.coalesce(func.max(c.seq), 0))).scalar_one()), last_seq)
    rows = []
    for o in ops:
        seq = o["seq"]
        if seq in taken:
            top += 1
            seq = top
            report.renumbered += 1
        taken.add(seq)
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
        elif s.execute(select(a.id).where(a.number == row["number"])).first() is None:
            s.execute(t.application.insert().values(**row))
        else:
            # The central held two applications under one number (an office restored before
            # the central refused reused numbers): the one here keeps it; this one is reported.
            folded.changed.discard(app_id)
            folded.skipped.append((app_id, f"its number {row['number']} is held here by another application"))
            continue
        report.applications += 1
    # A number the office holds again is never handed out again, rejoin or not.
    numbers = [folded.applications[i]["number"] for i in folded.changed if i not in existing]
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
    a = t.application.c
    for serial, values in folded.booklets.items():
        owner = values.get("application_id")
        if owner is not None and s.execute(select(a.id).where(a.id == owner)).first() is None:
            folded.skipped.append((serial, f"the booklet's application {owner} was not rebuilt"))
            continue
        found = s.execute(update(t.booklet).where(b.serial == serial).values(**values))
        if found.rowcount == 0:
            folded.skipped.append((serial, "a booklet the office has no record of receiving"))


def _write_captures(office: Office, uow, folded: Folded, report: Rebuilt) -> None:  # noqa: ANN001
    """Each position's newest item: its image written to the vault (synced, with the page's
    others, before the rows that name them commit), the row replaced."""
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
            ref = office.vault.put(image, sync=False) if image is not None else None
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
    """The image's width and height, as the capture desk stored them (None if it is no image),
    from its header: decoding a JPEG 2000 print only to learn its size cost half of a rebuild."""
    if image is None:
        return None, None
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None
