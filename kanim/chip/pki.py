"""The country's signing PKI (9303 Part 12): the CSCA, the Document Signer certificates it
issues to offices, and its certificate revocation list. Pure functions over `cryptography`
objects; where keys live (an encrypted file for the CSCA, a PKCS#11 token for a Document
Signer) is the callers' business.

Periods (Part 12 §5.1, as kanim uses them): a Document Signer key signs for at most
`DS_KEY_USAGE` (three months, the private-key usage period extension says so); its certificate
stays valid for that plus the longest passport validity, because every chip it signed must
still verify at a border until the passport expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

DS_KEY_USAGE = timedelta(days=92)
PASSPORT_VALIDITY = timedelta(days=3653)  # ten years, the longest an Indonesian passport runs
CSCA_KEY_USAGE = timedelta(days=3 * 365)
DOCUMENT_TYPE_LIST = ObjectIdentifier("2.23.136.1.1.6.2")  # id-icao-mrtd-security-extensions-documentTypeList
COUNTRY = "ID"


class DocumentTypeList(core.Sequence):
    """9303 Part 12 §7.1.1.3: which document types a Document Signer may sign ("P", passports)."""

    _fields = [("version", core.Integer), ("doc_type_list", core.SetOf, {"spec": core.PrintableString})]


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def create_csca(*, now: datetime, name: str = "CSCA Indonesia") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new CSCA key pair and its self-signed certificate (P-384, as Part 12 recommends for
    a CSCA that must outlive its Document Signers' passports)."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Direktorat Jenderal Imigrasi"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + CSCA_KEY_USAGE + DS_KEY_USAGE + PASSPORT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.PrivateKeyUsagePeriod(now, now + CSCA_KEY_USAGE), critical=False)
            .sign(key, hashes.SHA384()))
    return key, cert


def issue_document_signer(csr: x509.CertificateSigningRequest, *, csca_key: ec.EllipticCurvePrivateKey,
                          csca: x509.Certificate, office_code: str, now: datetime,
                          key_usage: timedelta = DS_KEY_USAGE) -> x509.Certificate:
    """A Document Signer certificate for an office's token key (its CSR proves the office holds
    it). The subject is the CSCA's country and organisation with the office as its unit."""
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature does not verify")
    if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
        raise ValueError("a Document Signer key must be an EC key")
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Direktorat Jenderal Imigrasi"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, office_code),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"Document Signer {office_code}")])
    doc_types = DocumentTypeList({"version": 0, "doc_type_list": ["P"]}).dump()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(csca.subject)
               .public_key(csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + key_usage + PASSPORT_VALIDITY)
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(csca.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
               .add_extension(x509.PrivateKeyUsagePeriod(now, now + key_usage), critical=False)
               .add_extension(x509.UnrecognizedExtension(DOCUMENT_TYPE_LIST, doc_types), critical=False))
    return builder.sign(csca_key, hashes.SHA384())


def build_crl(*, csca_key: ec.EllipticCurvePrivateKey, csca: x509.Certificate, revoked: dict[int, datetime],
              number: int, now: datetime, next_update: timedelta = timedelta(days=90)) -> x509.CertificateRevocationList:
    """The CSCA's revocation list: the serial numbers of revoked Document Signers and when."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(csca.subject)
               .last_update(now).next_update(now + next_update)
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(csca.public_key()), critical=False))
    for serial, at in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build())
    return builder.sign(csca_key, hashes.SHA384())


@dataclass(frozen=True)
class SignerPeriod:
    """When a Document Signer's key may sign (its private-key usage period)."""

    usable_from: datetime
    usable_until: datetime


def key_usage_period(cert: x509.Certificate) -> SignerPeriod:
    try:
        ext = cert.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
        start, end = ext.not_before, ext.not_after
    except x509.ExtensionNotFound:
        start, end = None, None
    return SignerPeriod(_utc(start) if start else cert.not_valid_before_utc,
                        _utc(end) if end else cert.not_valid_after_utc)


def _utc(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def document_types(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_oid(DOCUMENT_TYPE_LIST).value
    except x509.ExtensionNotFound:
        return []
    return [str(v.native) for v in DocumentTypeList.load(ext.value)["doc_type_list"]]


def document_signer_problem(ds: x509.Certificate, cscas: list[x509.Certificate],
                            crls: list[x509.CertificateRevocationList], at: datetime) -> str | None:
    """Why `ds` cannot be installed as this office's Document Signer at `at`, or None. The same
    checks a border makes (9303 Part 11 §5.1, Part 12 §7.1.1), made before a print: a certificate
    that installs and then fails every chip QC would spoil one booklet per passport printed."""
    csca = _issuing_csca(ds, cscas)
    if csca is None:
        return "the certificate is not signed by a CSCA this office trusts (kanim chip trust)"
    if not ds.not_valid_before_utc <= at <= ds.not_valid_after_utc:
        return f"the certificate is not valid now (valid {ds.not_valid_before_utc.date()} to {ds.not_valid_after_utc.date()})"
    profile = _signer_profile_problem(ds)
    if profile:
        return profile
    if key_usage_period(ds).usable_until <= at:
        return f"the key's usage period ended on {key_usage_period(ds).usable_until.date()}"
    for crl in crls:
        entry = crl.get_revoked_certificate_by_serial_number(ds.serial_number) if crl.issuer == csca.subject else None
        if entry is not None:
            return f"the certificate was revoked on {entry.revocation_date_utc.date()}"
    return None


def _issuing_csca(ds: x509.Certificate, cscas: list[x509.Certificate]) -> x509.Certificate | None:
    """The trusted CSCA whose key signed `ds`: a matching name alone proves nothing."""
    for csca in cscas:
        if csca.subject != ds.issuer:
            continue
        try:
            ds.verify_directly_issued_by(csca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return csca
    return None


def _signer_profile_problem(ds: x509.Certificate) -> str | None:
    try:
        ku = ds.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "the certificate has no key usage: a Document Signer's must allow digital signatures"
    if not ku.digital_signature or ku.key_cert_sign:
        return "the certificate's key usage is not a Document Signer's (digital signature, no certificate signing)"
    try:
        if ds.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "the certificate is a CA's, not a Document Signer's"
    except x509.ExtensionNotFound:
        pass
    try:
        ds.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod)
    except x509.ExtensionNotFound:
        return "the certificate has no private-key usage period"
    try:
        types = document_types(ds)
    except ValueError:
        types = []
    if "P" not in types:
        return "the certificate does not list passports (P) among its document types"
    return None


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER, or ValueError."""
    return x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_certificate(data)


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    return (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_crl(data))


def encrypt_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    if len(passphrase) < 12:
        raise ValueError("a CSCA passphrase needs at least 12 characters")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def decrypt_key(pem: bytes, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, passphrase)
    except (ValueError, TypeError):
        raise ValueError("the CSCA key does not open with this passphrase") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CSCA key is not an EC key")
    return key

