"""The print room's chips with the real parts: the Document Signer key generated inside a
SoftHSM2 token through PKCS#11, the SOD checked by `openssl cms -verify`, the hashes recomputed
here. One token for the whole file: SoftHSM2 reads its configuration once per process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from datetime import UTC, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from typer.testing import CliRunner

from kanim.chip import ceremony, lds, softhsm, tlv
from kanim.chip.cli import chip_app
from kanim.chip.signer import certificate_request
from kanim.domain.application import Stage
from kanim.domain.errors import Conflict, GateClosed
from kanim.domain.passport import PassportKind
from kanim.link.relay import sync_once
from kanim.office import accounts, admin, chip, printing, vault_files
from kanim.seed import advance
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.console_desk_helpers import PASSWORD, browser
from tests.integration.test_console_print_room import cheap_passwords
from tests.integration.test_workflow import SITI, book_one

pytestmark = pytest.mark.skipif(softhsm.available() is not None, reason=f"SoftHSM2: {softhsm.available()}")
PASS = b"correct horse battery staple"


@pytest.fixture(scope="module")
def token(tmp_path_factory):  # noqa: ANN001, ANN201
    folder = tmp_path_factory.mktemp("softhsm")
    conf = softhsm.init_token(folder, label="kanim-ds", pin_file=folder / "token.pin")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return folder


@pytest.fixture
def office(tmp_path, clock, central, token):  # noqa: ANN001, ANN201
    o, _ = make_office(tmp_path, "sqlite", clock, central, chip_pin_file=token / "token.pin")
    printing.receive_booklets(o, first="X1000001", last="X1000010", actor="printer")
    csca = ceremony.create(tmp_path / "csca", passphrase=PASS, now=clock.now() - timedelta(days=1))
    chip.trust_csca(o, certificate=csca.public_bytes(serialization.Encoding.PEM), actor="it")
    label = f"ds-{tmp_path.name[-12:]}"  # one key per test in the shared token
    key = chip.token_key(o, label)
    key.generate()
    cert = ceremony.issue(tmp_path / "csca", certificate_request(key, office_code="MND"), passphrase=PASS,
                          office_code="MND", now=clock.now())
    chip.install_document_signer(o, certificate=cert.public_bytes(serialization.Encoding.PEM), key_label=label, actor="it")
    o.test_csca, o.test_key, o.test_ds = tmp_path / "csca" / ceremony.CERT, key, cert
    yield o
    o.engine.dispose()


def printed(office):  # noqa: ANN001, ANN201
    app = book_one(office)
    advance(office, app.id, "printed", app_type=app.app_type)
    with office.uow(readonly=True) as uow:
        return uow.applications.get(app.id)


def test_an_electronic_passport_gets_a_chip_that_openssl_and_kanim_chip_verify_accept(office, tmp_path) -> None:  # noqa: ANN001
    app = printed(office)
    out = tmp_path / "chip"
    manifest = chip.export_image(office, application_id=app.id, out=out, actor="printer")
    sod = tlv.unwrap((out / lds.SOD).read_bytes(), 0x77)
    (tmp_path / "sod.der").write_bytes(sod)
    (tmp_path / "ds.pem").write_bytes(office.test_ds.public_bytes(serialization.Encoding.PEM))
    openssl = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sod.der"),
                              "-CAfile", str(office.test_csca), "-purpose", "any", "-out", str(tmp_path / "lso.der")],
                             capture_output=True, text=True)
    assert openssl.returncode == 0 and "Verification successful" in openssl.stderr
    lso = (tmp_path / "lso.der").read_bytes()
    for n in (1, 2, 3):  # each group's SHA-256, recomputed here, is in the signed content
        assert hashlib.sha256((out / lds.dg_file(n)).read_bytes()).digest() in lso
    result = CliRunner().invoke(chip_app, ["verify", str(out), "--csca", str(office.test_csca)])
    assert result.exit_code == 0 and result.output.startswith("VALID"), result.output
    with office.uow(readonly=True) as uow:
        row = uow.session.execute(select(t.chip_image)).one()
        op = uow.session.execute(select(t.outbox.c.payload).where(t.outbox.c.op == "ChipPersonalised")).scalar_one()
    assert row.sod_sha256 == hashlib.sha256((out / lds.SOD).read_bytes()).hexdigest() == manifest["sod_sha256"]
    assert op["ds_fingerprint"] == row.ds_fingerprint and op["sod_sha256"] == row.sod_sha256
    assert [e["exception"] for e in manifest["finger_exceptions"]] == ["injured"]  # the seed's injured finger
    assert not office.test_key.is_extractable()  # the Document Signer key never leaves the token
    printing.quality_check(office, application_id=app.id, passed=True, actor="printer")
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(app.id).stage is Stage.QC_PASSED


def test_a_tampered_dg2_fails_qc_and_spoils_the_booklet(office, tmp_path) -> None:  # noqa: ANN001
    app = printed(office)
    with office.uow(readonly=True) as uow:
        ref = uow.session.execute(select(t.chip_image.c.file_ref)).scalar_one()
    job = json.loads(office.vault.get(ref))
    dg2 = bytearray(__import__("base64").b64decode(job["files"]["DG2.bin"]))
    dg2[-10] ^= 0xFF  # a flipped byte in the face image, as a faulty encoder might write it
    job["files"]["DG2.bin"] = __import__("base64").b64encode(bytes(dg2)).decode()
    path = office.vault._path(ref)
    office.vault.delete(ref)
    new_ref = office.vault.put(json.dumps(job).encode())
    with office.uow() as uow:
        uow.session.execute(t.chip_image.update().values(file_ref=new_ref))
        uow.commit()
    assert not path.exists()
    with pytest.raises(Conflict) as failed:
        printing.quality_check(office, application_id=app.id, passed=True, actor="printer")
    assert failed.value.code == "chip-qc-failed" and "DG2's hash does not match the SOD" in failed.value.message
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(app.id).stage is Stage.APPROVED
        spoiled = uow.session.execute(select(t.booklet).where(t.booklet.c.serial == "X1000001")).one()
    assert spoiled.status.value == "spoiled" and "DG2" in spoiled.spoil_note


def test_a_chip_whose_dg1_is_not_the_printed_mrz_fails_qc_and_spoils_the_booklet(office) -> None:  # noqa: ANN001
    """A chip that verifies by itself (hashes, signature, chain) but does not hold the MRZ on the
    data page: the data page was printed with other lines than the chip was written with."""
    app = printed(office)
    with office.uow() as uow:
        line2 = uow.session.execute(select(t.application.c.mrz_line2).where(t.application.c.id == app.id)).scalar_one()
        uow.session.execute(t.application.update().where(t.application.c.id == app.id)
                            .values(mrz_line2=line2[:-1] + ("1" if line2[-1] != "1" else "2")))
        uow.commit()
    with pytest.raises(Conflict) as failed:
        printing.quality_check(office, application_id=app.id, passed=True, actor="printer")
    assert failed.value.code == "chip-qc-failed", failed.value.message
    assert "DG1 is not the MRZ printed on the data page" in failed.value.message
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(app.id).stage is Stage.APPROVED
        spoiled = uow.session.execute(select(t.booklet).where(t.booklet.c.serial == "X1000001")).one()
    assert spoiled.status.value == "spoiled" and "DG1" in spoiled.spoil_note


def test_an_expired_document_signer_stops_chips_while_ordinary_passports_print(office, clock, central,  # noqa: ANN001
                                                                              monkeypatch) -> None:
    cheap_passwords(monkeypatch)
    accounts.add_user(office, username="print_operator", full_name="Printer", role="print_operator", password=PASSWORD)
    electronic = book_one(office)
    ordinary = book_one(office, dataclasses.replace(SITI, nik="3171014508900002", full_name="Dewi Lestari",
                                                    passport_kind=PassportKind.ORDINARY))
    for app in (electronic, ordinary):
        advance(office, app.id, "approved", app_type=app.app_type)
    until = office.test_ds.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value.not_after
    clock.advance(seconds=(until.replace(tzinfo=UTC) - clock.now()).total_seconds() - 86400 * 10)
    with office.uow(readonly=True) as uow:
        assert "expires in 10 days" in chip.signer_state(uow).warning
    clock.advance(days=11)
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", orders=[], actor="test")
    sync_once(office, central)
    with pytest.raises(GateClosed) as stopped:
        printing.print_passport(office, application_id=electronic.id, actor="printer")
    assert stopped.value.code == "chip-signer-unusable" and "expired on" in stopped.value.message
    page = browser(office, "print_operator").get("/staff/print-room").text
    assert 'id="chip-signer" data-kind="expired"' in page and "Personalisasi cip dihentikan" in page  # Indonesian first
    printing.print_passport(office, application_id=ordinary.id, actor="printer")
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(ordinary.id).stage is Stage.PRINTED
        assert uow.applications.get(electronic.id).stage is Stage.APPROVED  # no booklet was taken
        assert uow.session.execute(select(t.chip_image)).first() is None


def test_a_token_that_cannot_be_opened_refuses_the_print_whole(office, tmp_path) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "approved", app_type=app.app_type)
    office.settings.chip_pin_file = tmp_path / "wrong.pin"
    office.settings.chip_pin_file.write_text("00000000")
    with pytest.raises(GateClosed) as refused:
        printing.print_passport(office, application_id=app.id, actor="printer")
    assert refused.value.code == "chip-token-unavailable" and "PIN of token 'kanim-ds' is wrong" in refused.value.message
    assert "00000000" not in refused.value.message
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(app.id).stage is Stage.APPROVED
        assert uow.session.execute(select(t.booklet.c.status).where(t.booklet.c.serial == "X1000001")).scalar() \
            .value == "in_stock"
    assert office.vault.refs() == vault_files.referenced(office)  # no job file left behind


def test_a_revocation_list_from_the_feed_stops_chip_personalisation(office, tmp_path, clock) -> None:  # noqa: ANN001
    der = ceremony.revoke_and_publish(tmp_path / "csca", passphrase=PASS, now=clock.now(),
                                      serial=office.test_ds.serial_number)
    with office.uow() as uow:
        assert chip.record_crl(uow, der) is True
        assert chip.record_crl(uow, der) is False  # the same list again changes nothing
        uow.commit()
    with office.uow(readonly=True) as uow:
        assert chip.signer_state(uow).stop.startswith("the Document Signer was revoked on")


def test_the_wrong_passphrase_opens_no_csca_and_a_csca_is_never_overwritten(tmp_path, clock) -> None:  # noqa: ANN001
    ceremony.create(tmp_path / "c", passphrase=PASS, now=clock.now())
    with pytest.raises(ceremony.CeremonyError, match="passphrase"):
        ceremony.revoke_and_publish(tmp_path / "c", passphrase=b"wrong passphrase!", now=clock.now())
    with pytest.raises(ceremony.CeremonyError, match="never overwritten"):
        ceremony.create(tmp_path / "c", passphrase=PASS, now=clock.now())
    assert oct((tmp_path / "c" / ceremony.KEY).stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "c" / ceremony.KEY).read_bytes()



def test_threads_signing_at_once_all_get_a_valid_signature(office) -> None:  # noqa: ANN001
    # A threaded server prints two passports at once: before the token lock, one session's close
    # logged the other out (UserAlreadyLoggedIn, GeneralError) or crashed SoftHSM2.
    from concurrent.futures import ThreadPoolExecutor

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    key = office.test_key
    public = serialization.load_der_public_key(key.public_key_info())

    def sign_many(n: int) -> list[tuple[bytes, bytes]]:
        return [(data, key.sign(data)) for data in (f"{n}-{i}".encode() for i in range(15))]

    with ThreadPoolExecutor(4) as pool:
        results = [pair for batch in pool.map(sign_many, range(4)) for pair in batch]
    assert len(results) == 60
    for data, signature in results:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # raises if any is wrong


def test_a_token_failing_while_signing_refuses_the_print_with_409_and_no_pin(office, monkeypatch) -> None:  # noqa: ANN001
    import pkcs11

    from kanim.chip.signer import Pkcs11Key

    class Failing:
        def sign(self, *a, **k):  # noqa: ANN002, ANN003, ANN202
            raise pkcs11.exceptions.GeneralError()

    monkeypatch.setattr(Pkcs11Key, "_one", lambda self, session, cls: Failing())
    app = book_one(office)
    advance(office, app.id, "approved", app_type=app.app_type)
    with pytest.raises(GateClosed) as refused:
        printing.print_passport(office, application_id=app.id, actor="printer")
    pin = (office.settings.chip_pin_file).read_text().strip()
    assert refused.value.status == 409 and refused.value.code == "chip-token-unavailable"
    assert "GeneralError" in refused.value.message and pin not in refused.value.message
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(app.id).stage is Stage.APPROVED


def test_a_document_signer_certificate_that_would_spoil_every_booklet_is_refused_at_install(office, tmp_path, clock) -> None:  # noqa: ANN001
    # Before: only the issuer's name was compared, so both installed and every QC then failed.
    from cryptography.hazmat.primitives import hashes

    from kanim.chip import pki
    csca_key = pki.decrypt_key((tmp_path / "csca" / ceremony.KEY).read_bytes(), PASS)
    public = office.test_key.public_key_info()
    csr = x509.load_pem_x509_csr(certificate_request(office.test_key, office_code="MND"))
    good = office.test_ds
    cert_signing_only = (x509.CertificateBuilder().subject_name(good.subject).issuer_name(good.issuer)
                         .public_key(serialization.load_der_public_key(public)).serial_number(x509.random_serial_number())
                         .not_valid_before(clock.now()).not_valid_after(clock.now() + timedelta(days=400))
                         .add_extension(x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True)
                         .add_extension(x509.PrivateKeyUsagePeriod(clock.now(), clock.now() + timedelta(days=90)), critical=False)
                         .sign(csca_key, hashes.SHA384()))
    impostor_key, impostor = pki.create_csca(now=clock.now() - timedelta(days=1))  # the same name, another key
    assert impostor.subject == x509.load_pem_x509_certificate(office.test_csca.read_bytes()).subject
    forged = pki.issue_document_signer(csr, csca_key=impostor_key, csca=impostor, office_code="MND", now=clock.now())
    cases = {"key usage is not a Document Signer's": cert_signing_only,
             "not signed by a CSCA this office trusts": forged}
    for reason, cert in cases.items():
        with pytest.raises(Conflict) as refused:
            chip.install_document_signer(office, certificate=cert.public_bytes(serialization.Encoding.PEM),
                                         key_label=office.test_key.key_label, actor="it")
        assert refused.value.code == "chip-certificate-refused" and reason in refused.value.message
    with office.uow(readonly=True) as uow:  # nothing written: only the fixture's good one
        assert [r.fingerprint for r in uow.session.execute(select(t.document_signer))] == [chip.pki.fingerprint(good)]
    der = ceremony.revoke_and_publish(tmp_path / "csca", passphrase=PASS, now=clock.now(), serial=good.serial_number)
    with office.uow() as uow:
        chip.record_crl(uow, der)
        uow.commit()
    with pytest.raises(Conflict, match="was revoked on"):  # a revoked one is no better
        chip.install_document_signer(office, certificate=good.public_bytes(serialization.Encoding.PEM),
                                     key_label=office.test_key.key_label, actor="it")


def test_a_revoked_document_signer_refuses_electronic_prints_while_ordinary_passports_print(office, tmp_path,  # noqa: ANN001
                                                                                            clock) -> None:
    electronic = book_one(office)
    ordinary = book_one(office, dataclasses.replace(SITI, nik="3171014508900002", full_name="Dewi Lestari",
                                                    passport_kind=PassportKind.ORDINARY))
    for app in (electronic, ordinary):
        advance(office, app.id, "approved", app_type=app.app_type)
    der = ceremony.revoke_and_publish(tmp_path / "csca", passphrase=PASS, now=clock.now(),
                                      serial=office.test_ds.serial_number)
    with office.uow() as uow:
        assert chip.record_crl(uow, der) is True
        uow.commit()
    with pytest.raises(GateClosed) as stopped:
        printing.print_passport(office, application_id=electronic.id, actor="printer")
    assert stopped.value.code == "chip-signer-unusable" and "revoked on" in stopped.value.message
    printing.print_passport(office, application_id=ordinary.id, actor="printer")
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(ordinary.id).stage is Stage.PRINTED
        assert uow.applications.get(electronic.id).stage is Stage.APPROVED  # no booklet was taken
        assert uow.session.execute(select(t.chip_image)).first() is None
