"""EF.SOD (9303 Part 10 §4.6.2): an LDS security object holding a SHA-256 hash of every data
group, in a CMS SignedData (RFC 5652) signed by the Document Signer. Pure: the signature itself
comes from a `Signer` (kanim/chip/signer.py), so the same code signs with a software key in unit
tests and with the office's PKCS#11 token everywhere else."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import algos, cms, core, x509

from kanim.chip import tlv

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"  # id-icao-mrtd-security-ldsSecurityObject
cms.ContentType._map[LDS_SECURITY_OBJECT] = "lds_security_object"  # so asn1crypto names it


class LdsVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]


class DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]


class DataGroupHashes(core.SequenceOf):
    _child_spec = DataGroupHash


class LdsSecurityObject(core.Sequence):
    """Version 1 (LDS 1.7): version 1 carries the LDS and Unicode versions."""

    _fields = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashes),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


class Signer(Protocol):
    """The Document Signer as the SOD needs it: its certificate, and an ECDSA-with-SHA-256
    signature (DER) over the bytes given. The private key never leaves the implementation."""

    @property
    def certificate(self) -> bytes: ...  # DER

    def sign(self, data: bytes) -> bytes: ...


def security_object(groups: dict[int, bytes]) -> bytes:
    hashes = [{"data_group_number": n, "data_group_hash_value": hashlib.sha256(groups[n]).digest()}
              for n in sorted(groups)]
    return LdsSecurityObject({
        "version": 1, "hash_algorithm": {"algorithm": "sha256"},
        "data_group_hash_values": hashes,
        "lds_version_info": {"lds_version": "0107", "unicode_version": "040000"},
    }).dump()


def build_sod(groups: dict[int, bytes], signer: Signer, *, signed_at: datetime) -> bytes:
    """The EF.SOD file (tag 0x77 around the CMS ContentInfo)."""
    econtent = security_object(groups)
    attrs = cms.CMSAttributes([
        {"type": "content_type", "values": [LDS_SECURITY_OBJECT]},
        {"type": "signing_time", "values": [cms.Time({"utc_time": signed_at})]},
        {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]},
    ])
    # The signature covers the attributes' DER as a SET (RFC 5652 §5.4), not as the [0] field.
    signature = signer.sign(attrs.dump())
    cert = x509.Certificate.load(signer.certificate)
    signer_info = {
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": cert.issuer, "serial_number": cert.serial_number}}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signature,
    }
    signed = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": LDS_SECURITY_OBJECT, "content": core.ParsableOctetString(econtent)},
        "certificates": [cert],
        "signer_infos": [signer_info],
    })
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed})
    return tlv.encode(0x77, info.dump())


@dataclass(frozen=True)
class ParsedSod:
    signed_data: cms.SignedData
    econtent: bytes
    hashes: dict[int, bytes]
    hash_algorithm: str

    @property
    def ds_certificate(self) -> bytes:
        return self.signed_data["certificates"][0].chosen.dump()


def parse_sod(data: bytes) -> ParsedSod:
    """The SOD's parts, or ValueError naming what is malformed."""
    info = cms.ContentInfo.load(tlv.unwrap(data, 0x77))
    if info["content_type"].native != "signed_data":
        raise ValueError("EF.SOD is not a CMS SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].dotted != LDS_SECURITY_OBJECT:
        raise ValueError("EF.SOD does not hold an LDS security object")
    econtent = encap["content"].contents
    lso = LdsSecurityObject.load(econtent)
    hashes = {int(h["data_group_number"].native): h["data_group_hash_value"].native
              for h in lso["data_group_hash_values"]}
    if len(signed["certificates"] or []) < 1 or len(signed["signer_infos"]) != 1:
        raise ValueError("EF.SOD must carry its Document Signer certificate and one signer")
    return ParsedSod(signed, econtent, hashes, lso["hash_algorithm"]["algorithm"].native)


def sod_sha256(data: bytes) -> str:
    """What the application and the national registry keep of a chip: the SOD's hash."""
    return hashlib.sha256(data).hexdigest()
