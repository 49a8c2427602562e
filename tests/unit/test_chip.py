"""The chip's content and Passive Authentication, pure: a software Document Signer key, an
independent ASN.1 parser (pyasn1) reading what asn1crypto wrote, hashes recomputed here."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyasn1.codec.der import decoder
from pyasn1.type import namedtype, univ
from pyasn1_modules import rfc5652

from kanim.chip import lds, pki, sod, tlv
from kanim.chip.signer import DocumentSigner, SoftwareKey, certificate_request
from kanim.chip.verify import matches_print, passive_authentication

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
MRZ = ("P<IDNRAHMAWATI<<SITI" + "<" * 24, "X1000001<1IDN9008054F3612011<<<<<<<<<<<<<<02")
FACE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


class DataGroupHash(univ.Sequence):
    componentType = namedtype.NamedTypes(namedtype.NamedType("number", univ.Integer()),
                                         namedtype.NamedType("hash", univ.OctetString()))


class LdsSecurityObject(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("hashAlgorithm", univ.Sequence()),
        namedtype.NamedType("hashes", univ.SequenceOf(componentType=DataGroupHash())),
        namedtype.OptionalNamedType("versionInfo", univ.Sequence()))


@pytest.fixture(scope="module")
def pkiset():  # noqa: ANN201
    csca_key, csca = pki.create_csca(now=NOW - timedelta(days=1))
    key = SoftwareKey()
    csr = x509.load_pem_x509_csr(certificate_request(key, office_code="MND"))
    ds = pki.issue_document_signer(csr, csca_key=csca_key, csca=csca, office_code="MND", now=NOW)
    return csca_key, csca, DocumentSigner(key, ds.public_bytes(serialization.Encoding.DER)), ds


def chip(signer: DocumentSigner) -> dict[str, bytes]:
    content = lds.ChipContent(mrz=MRZ, face_jpeg=FACE, face_width=480, face_height=600, sex="F",
                              fingers=(lds.Finger(1, b"\x89PNG-right-thumb", 300, 400), lds.Finger(6, b"\x89PNG-left", 300, 400)))
    groups = lds.data_groups(content)
    files = {lds.dg_file(n): b for n, b in groups.items()}
    return {**files, lds.COM: lds.ef_com(list(groups)), lds.SOD: sod.build_sod(groups, signer, signed_at=NOW)}


def test_a_chip_signed_by_its_document_signer_passes_passive_authentication(pkiset) -> None:  # noqa: ANN001
    _, csca, signer, ds = pkiset
    verdict = passive_authentication(chip(signer), cscas=[csca], at=NOW + timedelta(days=30))
    assert verdict.ok, verdict.reason
    assert verdict.groups == (1, 2, 3)
    assert verdict.ds_fingerprint == pki.fingerprint(ds)


def test_the_security_object_read_by_another_parser_holds_each_groups_sha256(pkiset) -> None:  # noqa: ANN001
    files = chip(pkiset[2])
    info, rest = decoder.decode(tlv.unwrap(files[lds.SOD], 0x77), asn1Spec=rfc5652.ContentInfo())
    assert rest == b"" and info["contentType"] == rfc5652.id_signedData
    signed, _ = decoder.decode(info["content"], asn1Spec=rfc5652.SignedData())
    assert str(signed["encapContentInfo"]["eContentType"]) == "2.23.136.1.1.1"
    lso, _ = decoder.decode(bytes(signed["encapContentInfo"]["eContent"]), asn1Spec=LdsSecurityObject())
    got = {int(h["number"]): bytes(h["hash"]) for h in lso["hashes"]}
    assert got == {n: hashlib.sha256(files[lds.dg_file(n)]).digest() for n in (1, 2, 3)}
    assert int(lso["version"]) == 1


def test_dg1_holds_the_printed_mrz_and_dg2_a_19794_5_record_of_the_captured_face(pkiset) -> None:  # noqa: ANN001
    files = chip(pkiset[2])
    assert files[lds.dg_file(1)][:2] == b"\x61\x5b" and MRZ[0].encode() + MRZ[1].encode() in files[lds.dg_file(1)]
    record = tlv.first(tlv.first(tlv.first(tlv.unwrap(files[lds.dg_file(2)], 0x75), 0x7F61), 0x7F60), 0x5F2E)
    assert record[:8] == b"FAC\x00010\x00"
    assert int.from_bytes(record[8:12], "big") == len(record)  # the record length counts itself
    assert record.endswith(FACE)
    assert matches_print(files, mrz=MRZ, face_jpeg=FACE) is None
    assert matches_print(files, mrz=MRZ, face_jpeg=FACE + b"x") == "DG2 is not the face captured for this application"


def test_a_tampered_dg2_is_caught_by_its_hash(pkiset) -> None:  # noqa: ANN001
    files = chip(pkiset[2])
    files[lds.dg_file(2)] = files[lds.dg_file(2)].replace(FACE[-20:], b"\x00" * 20)
    verdict = passive_authentication(files, cscas=[pkiset[1]], at=NOW)
    assert not verdict.ok and verdict.reason == "DG2's hash does not match the SOD: the data group was altered"


def test_a_sod_whose_security_object_was_rewritten_fails_on_its_signature(pkiset) -> None:  # noqa: ANN001
    files = chip(pkiset[2])
    files[lds.dg_file(2)] = files[lds.dg_file(2)][:-1] + b"\x00"
    # A forger recomputes the hashes and re-signs with a key of their own.
    forged = DocumentSigner(SoftwareKey(), pkiset[2].certificate)
    groups = {n: files[lds.dg_file(n)] for n in (1, 2, 3)}
    files[lds.SOD] = sod.build_sod(groups, forged, signed_at=NOW)
    verdict = passive_authentication(files, cscas=[pkiset[1]], at=NOW)
    assert verdict.reason == "the SOD's signature does not verify with the Document Signer's key"


def test_a_document_signer_of_another_csca_is_not_trusted(pkiset) -> None:  # noqa: ANN001
    _, other = pki.create_csca(now=NOW, name="CSCA Elsewhere")
    verdict = passive_authentication(chip(pkiset[2]), cscas=[other], at=NOW)
    assert not verdict.ok and "not a trusted CSCA" in verdict.reason


def test_an_expired_document_signer_certificate_fails(pkiset) -> None:  # noqa: ANN001
    _, csca, signer, ds = pkiset
    verdict = passive_authentication(chip(signer), cscas=[csca], at=ds.not_valid_after_utc + timedelta(days=1))
    assert not verdict.ok and "Document Signer certificate is not valid on" in verdict.reason


def test_a_revoked_document_signer_fails_and_a_forged_revocation_list_is_refused(pkiset) -> None:  # noqa: ANN001
    csca_key, csca, signer, ds = pkiset
    crl = pki.build_crl(csca_key=csca_key, csca=csca, revoked={ds.serial_number: NOW}, number=1, now=NOW)
    verdict = passive_authentication(chip(signer), cscas=[csca], crls=[crl], at=NOW + timedelta(hours=1))
    assert verdict.reason == "the Document Signer was revoked on 2026-12-01"
    forger_key, _ = pki.create_csca(now=NOW)
    forged = pki.build_crl(csca_key=forger_key, csca=csca, revoked={}, number=2, now=NOW)
    assert "does not verify" in passive_authentication(chip(signer), cscas=[csca], crls=[forged], at=NOW).reason


def test_the_document_signer_certificate_carries_what_9303_names(pkiset) -> None:  # noqa: ANN001
    _, csca, _, ds = pkiset
    period = pki.key_usage_period(ds)
    assert period.usable_until - period.usable_from == pki.DS_KEY_USAGE
    assert ds.not_valid_after_utc - period.usable_until == pki.PASSPORT_VALIDITY  # verifies for a passport's life
    assert pki.document_types(ds) == ["P"]
    assert ds.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ds.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        csca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_a_missing_or_garbled_sod_is_a_reason_not_a_crash(pkiset) -> None:  # noqa: ANN001
    files = chip(pkiset[2])
    assert passive_authentication({k: v for k, v in files.items() if k != lds.SOD}, cscas=[pkiset[1]], at=NOW).reason \
        == "the chip has no EF.SOD"
    files[lds.SOD] = b"\x77\x03abc"
    assert passive_authentication(files, cscas=[pkiset[1]], at=NOW).reason.startswith("EF.SOD is malformed")


def test_a_few_hundred_byte_flips_of_the_sod_each_give_a_verdict_never_an_exception(pkiset) -> None:  # noqa: ANN001
    # Before the guard, about a third of these raised from asn1crypto or cryptography (ValueError,
    # UnsupportedAlgorithm, InvalidVersion): `kanim chip verify` showed a traceback.
    import random
    rng, files = random.Random(13), chip(pkiset[2])
    good, reasons = files[lds.SOD], set()
    for _ in range(300):
        garbled = bytearray(good)
        for _ in range(rng.choice((1, 1, 2, 5))):
            garbled[rng.randrange(len(garbled))] = rng.randrange(256)
        verdict = passive_authentication({**files, lds.SOD: bytes(garbled)}, cscas=[pkiset[1]], at=NOW)
        assert isinstance(verdict.reason, str) and "\n" not in verdict.line()
        reasons.add(verdict.reason.split(":")[0])
    assert "EF.SOD is malformed" in reasons  # the seed does reach the parser's errors


def test_ef_com_lists_the_groups_present() -> None:
    assert lds.listed_groups(lds.ef_com([1, 2, 3])) == [1, 2, 3]
    assert lds.ef_com([1, 2]).startswith(b"\x60")
