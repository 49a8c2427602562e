"""The CSCA operator's folder (docs/chip.md, "Key ceremonies"): the CSCA key encrypted with a
passphrase, its certificate, the Document Signers it issued and the ones it revoked. Kept on an
offline machine; only certificates and revocation lists ever leave it."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kanim.chip import pki

KEY, CERT, LEDGER = "csca.key.pem", "csca.pem", "ledger.json"


class CeremonyError(ValueError):
    """Bad input to a ceremony step; the message is safe to print."""


def create(folder: Path, *, passphrase: bytes, now: datetime) -> x509.Certificate:
    if (folder / KEY).exists():
        raise CeremonyError(f"{folder / KEY} exists: a CSCA is never overwritten")
    try:
        key, cert = pki.create_csca(now=now)
        pem = pki.encrypt_key(key, passphrase)
    except ValueError as e:
        raise CeremonyError(str(e)) from None
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(folder / KEY, pem, 0o600)
    _write(folder / CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _save(folder, {"issued": {}, "revoked": {}, "crl_number": 0})
    return cert


def issue(folder: Path, request_pem: bytes, *, passphrase: bytes, office_code: str, now: datetime) -> x509.Certificate:
    key, csca = _open(folder, passphrase)
    try:
        csr = x509.load_pem_x509_csr(request_pem)
        cert = pki.issue_document_signer(csr, csca_key=key, csca=csca, office_code=office_code, now=now)
    except ValueError as e:
        raise CeremonyError(f"the certificate request is refused: {e}") from None
    ledger = _load(folder)
    ledger["issued"][str(cert.serial_number)] = {"office": office_code, "fingerprint": pki.fingerprint(cert),
                                                 "issued_at": now.isoformat()}
    _save(folder, ledger)
    return cert


def revoke_and_publish(folder: Path, *, passphrase: bytes, now: datetime, serial: int | None = None) -> bytes:
    """Revoke a Document Signer (by its certificate's serial) if one is named, and sign the next
    revocation list (DER). A list is signed on every call: offices want a fresh one."""
    key, csca = _open(folder, passphrase)
    ledger = _load(folder)
    if serial is not None:
        if str(serial) not in ledger["issued"]:
            raise CeremonyError(f"this CSCA issued no Document Signer with serial {serial}")
        ledger["revoked"].setdefault(str(serial), now.isoformat())
    ledger["crl_number"] += 1
    revoked = {int(s): datetime.fromisoformat(at) for s, at in ledger["revoked"].items()}
    crl = pki.build_crl(csca_key=key, csca=csca, revoked=revoked, number=ledger["crl_number"], now=now)
    _save(folder, ledger)
    return crl.public_bytes(serialization.Encoding.DER)


def _open(folder: Path, passphrase: bytes) -> tuple:
    try:
        pem, cert = (folder / KEY).read_bytes(), (folder / CERT).read_bytes()
    except FileNotFoundError:
        raise CeremonyError(f"no CSCA in {folder} (kanim central csca create)") from None
    try:
        return pki.decrypt_key(pem, passphrase), pki.load_certificate(cert)
    except ValueError as e:
        raise CeremonyError(str(e)) from None


def _load(folder: Path) -> dict:
    return json.loads((folder / LEDGER).read_text())


def _save(folder: Path, ledger: dict) -> None:
    _write(folder / LEDGER, json.dumps(ledger, indent=2).encode(), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Written beside and renamed: a ceremony interrupted half-way leaves the old file whole.
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def publish_crl(node, der: bytes, *, csca: bytes, actor: str) -> int:  # noqa: ANN001
    """Put a revocation list into the central's feed for every office, after checking it is one
    the CSCA (`csca`, its certificate) signed: every office refuses one that is not, so it
    would revoke nothing, while the operator believed it published."""
    from kanim.central.service import emit
    try:
        crl = pki.load_crl(der)
    except ValueError:
        raise CeremonyError("not a certificate revocation list (DER or PEM)") from None
    try:
        cert = pki.load_certificate(csca)
    except ValueError:
        raise CeremonyError("not a CSCA certificate (PEM or DER)") from None
    if crl.issuer != cert.subject:
        raise CeremonyError(f"the revocation list is {crl.issuer.rfc4514_string()}'s, not this CSCA's")
    try:
        valid = crl.is_signature_valid(cert.public_key())
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise CeremonyError("the revocation list does not verify with the CSCA certificate's key: not published")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise CeremonyError("the revocation list has no CRL number") from None
    with node.uow() as uow:
        emit(uow, kind="crl", subject=f"crl-{number}",
             payload={"der": base64.b64encode(crl.public_bytes(serialization.Encoding.DER)).decode()}, office_code=None)
        uow.audit(actor=actor, action="CrlPublished", subject=f"crl-{number}", detail={"revoked": len(list(crl))})
        uow.commit()
    return number
