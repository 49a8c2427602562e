"""Passive Authentication (9303 Part 11 §5.1), as a border's inspection system does it, and
the print room's two extra checks (the chip says what was printed and captured). Pure: the
chip's files, the trusted CSCA certificates and revocation lists in; a verdict out.

Order matters for the reason given: a chip whose signature fails is reported as such even if a
hash would also fail, because a forged SOD is the graver finding."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from kanim.chip import lds, pki, sod, tlv


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    ds_fingerprint: str = ""
    groups: tuple[int, ...] = field(default=())

    def line(self) -> str:
        if self.ok:
            return f"VALID: passive authentication passed (DG{', DG'.join(map(str, self.groups))}; " \
                   f"Document Signer {self.ds_fingerprint[:16]})"
        return f"INVALID: {self.reason}"


class Failure(Exception):
    """One check failed; its message is the verdict's reason."""


# What a garbled SOD raises from deep inside asn1crypto and cryptography. asn1crypto parses
# lazily, so a flipped byte surfaces wherever the field is first read (the signer's attributes,
# the certificate, its key), not in `parse_sod`: the whole check is guarded, not one step.
MALFORMED = (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm, x509.InvalidVersion, tlv.TlvError)


def passive_authentication(files: dict[str, bytes], *, cscas: list[x509.Certificate],
                           crls: list[x509.CertificateRevocationList] = (), at: datetime) -> Verdict:
    ds_fp = ""
    try:
        parsed = _parse(files)
        ds = x509.load_der_x509_certificate(parsed.ds_certificate)
        ds_fp = pki.fingerprint(ds)
        _check_signature(parsed, ds)
        csca = _check_chain(ds, cscas, at)
        _check_not_revoked(ds, csca, crls, at)
        groups = _check_hashes(files, parsed)
    except Failure as e:
        return Verdict(False, str(e), ds_fp)
    except MALFORMED as e:
        return Verdict(False, f"EF.SOD is malformed: {_first_line(e)}", ds_fp)
    return Verdict(True, "", ds_fp, tuple(groups))


def _first_line(e: Exception) -> str:
    """A parser's message, on one line and short: the verdict is one line."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text[:160] or type(e).__name__


def _parse(files: dict[str, bytes]) -> sod.ParsedSod:
    if lds.SOD not in files:
        raise Failure("the chip has no EF.SOD")
    try:
        parsed = sod.parse_sod(files[lds.SOD])
    except (ValueError, TypeError, tlv.TlvError) as e:
        raise Failure(f"EF.SOD is malformed: {_first_line(e)}") from None
    if parsed.hash_algorithm != "sha256":
        raise Failure(f"EF.SOD uses {parsed.hash_algorithm}, this reader checks SHA-256 security objects")
    return parsed


def _check_signature(parsed: sod.ParsedSod, ds: x509.Certificate) -> None:
    info: cms.SignerInfo = parsed.signed_data["signer_infos"][0]
    sid = info["sid"].chosen
    if not isinstance(sid, cms.IssuerAndSerialNumber) or sid["serial_number"].native != ds.serial_number:
        raise Failure("the SOD's signer is not the Document Signer certificate it carries")
    attrs = info["signed_attrs"]
    if not attrs:
        raise Failure("the SOD's signer has no signed attributes")
    by_type = {a["type"].native: a["values"] for a in attrs}
    if by_type.get("content_type", [None])[0] is None or by_type["content_type"][0].dotted != sod.LDS_SECURITY_OBJECT:
        raise Failure("the SOD's signed content type is not the LDS security object")
    digest = by_type.get("message_digest")
    if digest is None or digest[0].native != hashlib.sha256(parsed.econtent).digest():
        raise Failure("the SOD's message digest does not match its security object")
    try:
        key = ds.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise Failure("the Document Signer key is not an EC key")
        # The signature covers the attributes as a SET: their bytes as read, retagged [0] → 0x31.
        key.verify(info["signature"].native, b"\x31" + attrs.dump()[1:], ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Failure("the SOD's signature does not verify with the Document Signer's key") from None


def _check_chain(ds: x509.Certificate, cscas: list[x509.Certificate], at: datetime) -> x509.Certificate:
    issuers = [c for c in cscas if c.subject == ds.issuer]
    if not issuers:
        raise Failure(f"the Document Signer was issued by {ds.issuer.rfc4514_string()}, not a trusted CSCA")
    csca = None
    for c in issuers:
        try:
            ds.verify_directly_issued_by(c)
            csca = c
            break
        except (InvalidSignature, ValueError, TypeError):
            continue
    if csca is None:
        raise Failure("the Document Signer certificate's signature does not verify with the CSCA's key")
    for cert, what in ((ds, "Document Signer"), (csca, "CSCA")):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise Failure(f"the {what} certificate is not valid on {at.date().isoformat()} "
                          f"(valid {cert.not_valid_before_utc.date()} to {cert.not_valid_after_utc.date()})")
    ku = ds.extensions.get_extension_for_class(x509.KeyUsage).value if _has(ds, x509.KeyUsage) else None
    if ku is None or not ku.digital_signature:
        raise Failure("the Document Signer certificate does not allow digital signatures")
    if "P" not in pki.document_types(ds):
        raise Failure("the Document Signer certificate does not list passports (P) among its document types")
    return csca


def _check_not_revoked(ds: x509.Certificate, csca: x509.Certificate,
                       crls: list[x509.CertificateRevocationList], at: datetime) -> None:
    for crl in crls:
        if crl.issuer != csca.subject:
            continue
        if not crl.is_signature_valid(csca.public_key()):
            raise Failure("a revocation list of this CSCA does not verify with its key")
        entry = crl.get_revoked_certificate_by_serial_number(ds.serial_number)
        if entry is not None and entry.revocation_date_utc <= at:
            raise Failure(f"the Document Signer was revoked on {entry.revocation_date_utc.date().isoformat()}")


def _check_hashes(files: dict[str, bytes], parsed: sod.ParsedSod) -> list[int]:
    present = sorted(n for n in lds.DG_TAGS if lds.dg_file(n) in files)
    for n in present:
        expected = parsed.hashes.get(n)
        if expected is None:
            raise Failure(f"DG{n} is on the chip but not in the SOD")
        if hashlib.sha256(files[lds.dg_file(n)]).digest() != expected:
            raise Failure(f"DG{n}'s hash does not match the SOD: the data group was altered")
    missing = sorted(set(parsed.hashes) - set(present) - {3})  # DG3 needs EAC to read: a border may not have it
    if missing:
        raise Failure(f"DG{missing[0]} is in the SOD but missing from the chip")
    if lds.COM in files:
        try:
            listed = lds.listed_groups(files[lds.COM])
        except tlv.TlvError as e:
            raise Failure(f"EF.COM is malformed: {e}") from None
        if sorted(parsed.hashes) != listed:
            raise Failure("EF.COM lists other data groups than the SOD")
    return present


def _has(cert: x509.Certificate, ext: type) -> bool:
    try:
        cert.extensions.get_extension_for_class(ext)
    except x509.ExtensionNotFound:
        return False
    return True


def matches_print(files: dict[str, bytes], *, mrz: tuple[str, str], face_jpeg: bytes) -> str | None:
    """The print room's check beyond Passive Authentication: DG1 is the MRZ on the data page
    and DG2 the face the capture desk accepted. The reason it fails, or None."""
    try:
        if lds.read_mrz(files[lds.dg_file(1)]) != tuple(mrz):
            return "DG1 is not the MRZ printed on the data page"
        if lds.read_face_jpeg(files[lds.dg_file(2)]) != face_jpeg:
            return "DG2 is not the face captured for this application"
    except KeyError as e:
        return f"the chip has no {e.args[0]}"
    except (tlv.TlvError, UnicodeDecodeError) as e:
        return f"a data group is malformed: {e}"
    return None
