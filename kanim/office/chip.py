"""The print room's chip work (docs/chip.md): the office's Document Signer and trust anchors,
the personalisation job of every electronic passport printed, and the chip's quality check.

A job holds DG2 and DG3 (a face and fingerprints), so it is kept only in the vault, encrypted,
and every read of it or of the images it is made from is audited."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.chip import lds, pki, sod
from kanim.chip.signer import DocumentSigner, Pkcs11Key, TokenError, find_module
from kanim.chip.verify import matches_print, passive_authentication
from kanim.domain.application import Application
from kanim.domain.errors import Conflict, GateClosed, InvalidInput, NotFound
from kanim.domain.events import ChipPersonalised
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

NOT_SET_UP = "no Document Signer is installed: electronic passports print without chip content"
REQUIRED_NOT_SET_UP = "no Document Signer is installed and this office requires chip content (KANIM_CHIP_REQUIRED)"
WARN_BEFORE = timedelta(days=14)  # a Document Signer this close to its end is a guardrail warning
FACE, FINGERPRINT = "face", "fingerprint"


@dataclass(frozen=True)
class SignerState:
    """Whether chips can be personalised now: `stop` names why not, `warning` what is coming."""

    fingerprint: str | None
    usable_until: datetime | None
    stop: str | None = None
    warning: str | None = None
    kind: str = "ok"  # ok | not_set_up | required | expiring | expired | revoked | not_yet (the console's words)
    days: int = 0  # until the key's end (expiring)


# -- the Document Signer -------------------------------------------------------------------


def pin_path(office: Office) -> Path:
    return office.settings.chip_pin_file or office.settings.data_dir / "keys" / "token.pin"


def token_key(office: Office, key_label: str) -> Pkcs11Key:
    module = find_module(office.settings.chip_pkcs11_module)
    if module is None:
        raise TokenError("no PKCS#11 module: install softhsm2 or set KANIM_CHIP_PKCS11_MODULE")
    try:
        pin = pin_path(office).read_text().strip()
    except FileNotFoundError:
        raise TokenError(f"no token PIN file at {pin_path(office)}") from None
    return Pkcs11Key(module=module, token_label=office.settings.chip_token_label, pin=pin, key_label=key_label)


def install_document_signer(office: Office, *, certificate: bytes, key_label: str, actor: str) -> x509.Certificate:
    """Install the certificate the CSCA issued for the token's key: it must be for that very key,
    a key the token never let out, and a Document Signer certificate a trusted CSCA signed that
    is valid and not revoked now (`pki.document_signer_problem`), or nothing is written."""
    try:
        cert = pki.load_certificate(certificate)
    except ValueError:
        raise InvalidInput("not an X.509 certificate (PEM or DER)", code="chip-certificate") from None
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = token_key(office, key_label)
    if key.public_key_info() != spki:
        raise Conflict(f"the certificate is not for the token's key {key_label!r}", code="chip-certificate-key")
    if key.is_extractable():
        raise Conflict(f"the token's key {key_label!r} is extractable or was once not sensitive: generate a new one "
                       "in the token (kanim chip ds request)", code="chip-key-extractable")
    period = pki.key_usage_period(cert)
    with office.uow() as uow:
        problem = pki.document_signer_problem(cert, _anchors(uow), _crls(uow), uow.now())
        if problem:
            raise Conflict(f"the Document Signer certificate is refused: {problem}", code="chip-certificate-refused")
        uow.session.execute(t.document_signer.insert().values(
            fingerprint=pki.fingerprint(cert), serial=str(cert.serial_number),
            certificate=cert.public_bytes(serialization.Encoding.DER), key_label=key_label,
            usable_from=period.usable_from, usable_until=period.usable_until,
            installed_at=uow.now(), installed_by=actor))
        uow.audit(actor=actor, action="DocumentSignerInstalled", subject=pki.fingerprint(cert)[:36],
                  detail={"usable_until": period.usable_until.isoformat()})
        uow.commit()
    return cert


def trust_csca(office: Office, *, certificate: bytes, actor: str) -> x509.Certificate:
    try:
        cert = pki.load_certificate(certificate)
    except ValueError:
        raise InvalidInput("not an X.509 certificate (PEM or DER)", code="chip-certificate") from None
    with office.uow() as uow:
        fp = pki.fingerprint(cert)
        if uow.session.execute(select(t.csca_anchor.c.fingerprint).where(t.csca_anchor.c.fingerprint == fp)).first() is None:
            uow.session.execute(t.csca_anchor.insert().values(
                fingerprint=fp, certificate=cert.public_bytes(serialization.Encoding.DER), installed_at=uow.now()))
            uow.audit(actor=actor, action="CscaTrusted", subject=fp[:36], detail={})
        uow.commit()
    return cert


class CrlRefused(ValueError):
    """A revocation list the office will not keep: the message says why (one line)."""


def record_crl(uow: UnitOfWork, der: bytes) -> bool:
    """Keep a CSCA's revocation list if it is from a trusted CSCA and newer than the one kept;
    one that is malformed or whose signature does not verify with that CSCA's key is refused
    (CrlRefused): kept, it could only revoke a Document Signer wrongly."""
    try:
        crl = pki.load_crl(der)
    except ValueError:
        raise CrlRefused("not a certificate revocation list") from None
    issuer = next((a for a in _anchors(uow) if a.subject == crl.issuer), None)
    if issuer is None:
        return False  # another country's or an untrusted CSCA's list: nothing here it could revoke
    try:
        valid = crl.is_signature_valid(issuer.public_key())
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise CrlRefused(f"the revocation list of {crl.issuer.rfc4514_string()} does not verify with its key")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise CrlRefused("the revocation list has no CRL number") from None
    c = t.csca_crl.c
    name = crl.issuer.rfc4514_string()
    kept = uow.session.execute(select(c.number).where(c.issuer == name)).scalar()
    if kept is not None and kept >= number:
        return False
    if kept is not None:
        uow.session.execute(t.csca_crl.delete().where(c.issuer == name))
    uow.session.execute(t.csca_crl.insert().values(issuer=name, number=number, der=der, received_at=uow.now()))
    return True


def _anchors(uow: UnitOfWork) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(r) for r in uow.session.scalars(select(t.csca_anchor.c.certificate))]


def _crls(uow: UnitOfWork) -> list[x509.CertificateRevocationList]:
    return [x509.load_der_x509_crl(r) for r in uow.session.scalars(select(t.csca_crl.c.der))]


def signer_state(uow: UnitOfWork, *, required: bool = False) -> SignerState:
    """The newest installed Document Signer, judged now: its key-usage period and the CRLs.
    `required` is the office's `chip_required`: whether having none at all stops the print."""
    row = uow.session.execute(select(t.document_signer).order_by(t.document_signer.c.usable_until.desc())).first()
    if row is None:
        if required:
            return SignerState(None, None, stop=REQUIRED_NOT_SET_UP, kind="required")
        # An office not yet set up for chips (docs/chip.md, "Before the first ceremony") prints
        # electronic passports without chip content, and says so; it is not stopped.
        return SignerState(None, None, warning=NOT_SET_UP, kind="not_set_up")
    now = uow.now()
    cert = x509.load_der_x509_certificate(row.certificate)
    for crl in _crls(uow):
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number) if crl.issuer == cert.issuer else None
        if entry is not None:
            return SignerState(row.fingerprint, row.usable_until, kind="revoked",
                               stop=f"the Document Signer was revoked on {entry.revocation_date_utc.date()}")
    if now < row.usable_from:
        return SignerState(row.fingerprint, row.usable_until, kind="not_yet",
                           stop="the Document Signer's key may not sign yet")
    if now >= row.usable_until:
        return SignerState(row.fingerprint, row.usable_until, kind="expired",
                           stop=f"the Document Signer's key expired on {row.usable_until.date()}: install a new one")
    if row.usable_until - now <= WARN_BEFORE:
        days = (row.usable_until - now).days
        return SignerState(row.fingerprint, row.usable_until, kind="expiring", days=days,
                           warning=f"the Document Signer's key expires in {days} days ({row.usable_until.date()})")
    return SignerState(row.fingerprint, row.usable_until)


def require_signer(uow: UnitOfWork, *, required: bool = False) -> SignerState | None:
    """The Document Signer to sign with; None if the office has none installed and does not
    require one; GateClosed with the reason if none is and one is required, or if the one
    installed is expired, revoked or not yet usable."""
    state = signer_state(uow, required=required)
    if state.stop:
        raise GateClosed("chip personalisation is stopped: " + state.stop, reasons=[state.stop],
                         code="chip-signer-unusable")
    return state if state.fingerprint else None


# -- personalisation ----------------------------------------------------------------------


def personalise(office: Office, uow: UnitOfWork, app: Application, *, state: SignerState, actor: str) -> bytes:
    """The job for the chip encoder of a just-printed electronic booklet: the LDS files signed
    by the office's token, and a manifest. Returns the job's bytes for the vault; the caller
    records it (`record_job`) in the print's own transaction."""
    content, exceptions = _content(office, uow, app, actor=actor)
    groups = lds.data_groups(content)
    row = uow.session.execute(select(t.document_signer).where(t.document_signer.c.fingerprint == state.fingerprint)).one()
    try:
        signer = DocumentSigner(token_key(office, row.key_label), row.certificate)
        signed = sod.build_sod(groups, signer, signed_at=uow.now())
    except TokenError as e:
        # The token is unplugged, locked or misconfigured: the print is refused whole (no booklet
        # taken) with the reason, which names no PIN; IT fixes the token and the job prints.
        raise GateClosed(f"chip personalisation is stopped: {e}", reasons=[str(e)],
                         code="chip-token-unavailable") from None
    files = {lds.COM: lds.ef_com(list(groups)), **{lds.dg_file(n): b for n, b in groups.items()}, lds.SOD: signed}
    manifest = {"booklet_serial": app.booklet_serial, "lds_version": "1.7", "ds_fingerprint": row.fingerprint,
                "sod_sha256": sod.sod_sha256(files[lds.SOD]), "finger_exceptions": exceptions,
                "files": sorted(files), "created_at": uow.now().isoformat()}
    return json.dumps({"manifest": manifest, "files": {k: base64.b64encode(v).decode() for k, v in files.items()}},
                      sort_keys=True).encode()


def record_job(uow: UnitOfWork, app: Application, job: bytes, ref: str, *, actor: str) -> None:
    m = json.loads(job)["manifest"]
    uow.session.execute(t.chip_image.insert().values(
        booklet_serial=app.booklet_serial, application_id=app.id, file_ref=ref,
        ds_fingerprint=m["ds_fingerprint"], sod_sha256=m["sod_sha256"], created_at=uow.now()))
    uow.record(ChipPersonalised(app.id, uow.now(), actor, booklet_serial=app.booklet_serial or "",
                                ds_fingerprint=m["ds_fingerprint"], sod_sha256=m["sod_sha256"]))


def _content(office: Office, uow: UnitOfWork, app: Application, *, actor: str) -> tuple[lds.ChipContent, list[dict]]:
    rows = list(uow.session.execute(select(t.biometric).where(t.biometric.c.application_id == app.id)))
    face = next((r for r in rows if r.kind == FACE and r.file_ref), None)
    if face is None:
        raise Conflict(f"{app.number} has no captured face for its chip", code="chip-face-missing")
    fingers = [r for r in sorted(rows, key=lambda r: r.position) if r.kind == FINGERPRINT]
    # Every image read for the chip is audited, in the print's own transaction.
    uow.audit(actor=actor, action="BiometricRead", subject=app.id,
              detail={"kind": "face+fingerprints", "positions": [0] + [r.position for r in fingers if r.file_ref],
                      "purpose": "chip personalisation"})
    content = lds.ChipContent(
        mrz=(app.mrz_line1 or "", app.mrz_line2 or ""), face_jpeg=office.vault.get(face.file_ref),
        face_width=face.width or 0, face_height=face.height or 0, sex=app.sex.value[:1].upper(),
        fingers=tuple(lds.Finger(r.position, office.vault.get(r.file_ref), r.width or 0, r.height or 0)
                      for r in fingers if r.file_ref))
    exceptions = [{"position": r.position, "exception": r.exception.value} for r in fingers if r.exception]
    return content, exceptions


# -- reading a job back: QC, export --------------------------------------------------------


def job_files(job: bytes) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in json.loads(job)["files"].items()}


def chip_qc(office: Office, uow: UnitOfWork, app: Application, *, actor: str, image: dict[str, bytes] | None = None) -> str | None:
    """Why the booklet's chip fails QC, or None. `image` is the chip as the encoder read it
    back; without one (the demo has no encoder) the job itself is checked."""
    row = uow.session.execute(select(t.chip_image).where(t.chip_image.c.booklet_serial == app.booklet_serial)).first()
    if row is None:
        if signer_state(uow).fingerprint is None and not office.settings.chip_required:
            return None  # an office without a Document Signer, not requiring one, has no chip to check
        return "the booklet has no chip personalisation job"
    face = uow.session.execute(select(t.biometric.c.file_ref).where(
        t.biometric.c.application_id == app.id, t.biometric.c.kind == FACE)).scalar()
    uow.audit(actor=actor, action="BiometricRead", subject=app.id,
              detail={"kind": "chip", "position": 0, "purpose": "chip quality check"})
    files = image if image is not None else job_files(office.vault.get(row.file_ref))
    verdict = passive_authentication(files, cscas=_anchors(uow), crls=_crls(uow), at=uow.now())
    if not verdict.ok:
        return "chip: " + verdict.reason
    if verdict.ds_fingerprint != row.ds_fingerprint or sod.sod_sha256(files[lds.SOD]) != row.sod_sha256:
        return "chip: its SOD is not the one this office signed for the booklet"
    mismatch = matches_print(files, mrz=(app.mrz_line1 or "", app.mrz_line2 or ""),
                             face_jpeg=office.vault.get(face) if face else b"")
    return "chip: " + mismatch if mismatch else None


def export_image(office: Office, *, application_id: str, out: Path, actor: str) -> dict:
    """Write a booklet's chip image to a folder (what `kanim chip verify` reads). Audited: the
    folder then holds a face and fingerprints in the clear; the caller removes it after."""
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        row = uow.session.execute(select(t.chip_image).where(t.chip_image.c.application_id == app.id)
                                  .order_by(t.chip_image.c.created_at.desc())).first()
        if row is None:
            raise NotFound(f"{app.number} has no chip image", code="chip-image-not-found")
        uow.audit(actor=actor, action="BiometricRead", subject=app.id,
                  detail={"kind": "chip", "position": 0, "purpose": "chip image export"})
        uow.commit()
    job = office.vault.get(row.file_ref)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in job_files(job).items():
        (out / name).write_bytes(data)
    (out / "manifest.json").write_text(json.dumps(json.loads(job)["manifest"], indent=2))
    return json.loads(job)["manifest"]

