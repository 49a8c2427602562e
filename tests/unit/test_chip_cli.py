"""`kanim central csca …` and `kanim chip verify` as an operator runs them: one line on success,
a one-line error and exit 2 on bad input, exit 1 for a chip that fails."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from kanim.chip import lds, sod
from kanim.chip.cli import chip_app, csca_app
from kanim.chip.signer import DocumentSigner, SoftwareKey, certificate_request

run = CliRunner().invoke


def test_a_csca_ceremony_from_the_command_line(tmp_path) -> None:  # noqa: ANN001
    pw = tmp_path / "pass"
    pw.write_text("a long demo passphrase\n")
    folder = ["--dir", str(tmp_path / "csca"), "--passphrase-file", str(pw)]
    created = run(csca_app, ["create", *folder])
    assert created.exit_code == 0 and "fingerprint sha256 " in created.output
    again = run(csca_app, ["create", *folder])
    assert again.exit_code == 2 and "never overwritten" in again.output

    key = SoftwareKey()
    (tmp_path / "ds.csr").write_bytes(certificate_request(key, office_code="MND"))
    issued = run(csca_app, ["issue", str(tmp_path / "ds.csr"), "--office", "MND", "--out", str(tmp_path / "ds.pem"), *folder])
    assert issued.exit_code == 0 and "Document Signer for MND" in issued.output
    ds = x509.load_pem_x509_certificate((tmp_path / "ds.pem").read_bytes())

    (tmp_path / "junk.csr").write_text("not a request")
    junk = run(csca_app, ["issue", str(tmp_path / "junk.csr"), "--office", "MND", "--out", str(tmp_path / "x.pem"), *folder])
    assert junk.exit_code == 2 and junk.output.startswith("error: the certificate request is refused")
    assert not (tmp_path / "x.pem").exists()

    # A chip signed by that Document Signer; then its certificate revoked.
    groups = lds.data_groups(lds.ChipContent(mrz=("P<IDN" + "<" * 39, "X1000001" + "<" * 36), face_jpeg=b"\xff\xd8",
                                             face_width=1, face_height=1, sex="F"))
    chip = tmp_path / "chip"
    chip.mkdir()
    for n, b in groups.items():
        (chip / lds.dg_file(n)).write_bytes(b)
    signer = DocumentSigner(key, ds.public_bytes(serialization.Encoding.DER))
    (chip / lds.SOD).write_bytes(sod.build_sod(groups, signer, signed_at=datetime.now(UTC)))
    csca = str(tmp_path / "csca" / "csca.pem")
    good = run(chip_app, ["verify", str(chip), "--csca", csca])
    assert good.exit_code == 0 and good.output.startswith("VALID: passive authentication passed (DG1, DG2;")

    crl = run(csca_app, ["crl", "--revoke", str(ds.serial_number), "--out", str(tmp_path / "csca.crl"), *folder])
    assert crl.exit_code == 0
    revoked = run(chip_app, ["verify", str(chip), "--csca", csca, "--crl", str(tmp_path / "csca.crl")])
    assert revoked.exit_code == 1 and revoked.output.startswith("INVALID: the Document Signer was revoked on")
    unknown = run(csca_app, ["crl", "--revoke", "12345", "--out", str(tmp_path / "y.crl"), *folder])
    assert unknown.exit_code == 2 and "no Document Signer with serial 12345" in unknown.output


def test_a_wrong_passphrase_or_bad_trust_file_is_one_line_and_exit_2(tmp_path) -> None:  # noqa: ANN001
    pw, wrong = tmp_path / "pass", tmp_path / "wrong"
    pw.write_text("a long demo passphrase")
    wrong.write_text("another long passphrase")
    assert run(csca_app, ["create", "--dir", str(tmp_path / "c"), "--passphrase-file", str(pw)]).exit_code == 0
    r = run(csca_app, ["crl", "--out", str(tmp_path / "z.crl"), "--dir", str(tmp_path / "c"), "--passphrase-file", str(wrong)])
    assert (r.exit_code, r.output) == (2, "error: the CSCA key does not open with this passphrase\n")
    short = run(csca_app, ["create", "--dir", str(tmp_path / "d"), "--passphrase-file", str(tmp_path / "short")])
    assert short.exit_code == 2 and "cannot read passphrase file" in short.output
    (tmp_path / "chip").mkdir()
    bad = run(chip_app, ["verify", str(tmp_path / "chip"), "--csca", str(pw)])
    assert bad.exit_code == 2 and bad.output.startswith("error: bad --csca")
    (tmp_path / "chip" / lds.SOD).mkdir()  # a chip file that cannot be read: one line, not a traceback
    unreadable = run(chip_app, ["verify", str(tmp_path / "chip"), "--csca", str(pw)])
    assert (unreadable.exit_code, unreadable.output) == (2, f"error: cannot read chip file {tmp_path / 'chip' / lds.SOD}\n")
