"""`kanim chip …` (the office's IT and any reader) and `kanim central csca …` (the CSCA
operator, offline). A thin layer over kanim.chip and kanim.office.chip; docs/chip.md walks
through the ceremonies these commands make."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization

from kanim.chip import ceremony, lds, pki
from kanim.chip.signer import TokenError, certificate_request
from kanim.chip.verify import passive_authentication

chip_app = typer.Typer(help="Electronic passports: the chip's Document Signer and Passive Authentication.",
                       no_args_is_help=True)
ds_app = typer.Typer(help="The office's Document Signer (its key in the PKCS#11 token).", no_args_is_help=True)
csca_app = typer.Typer(help="The country signing CA, kept offline by the central operator.", no_args_is_help=True)
chip_app.add_typer(ds_app, name="ds")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise _fail(f"cannot read {what} {path}") from None


def _passphrase(file: Path | None) -> bytes:
    """From a file (mode 0600, for scripts) or typed at the terminal; never an argument, which
    the shell's history and `ps` would show."""
    if file is not None:
        return _read(file, "passphrase file").strip()
    if not sys.stdin.isatty():
        raise _fail("give --passphrase-file or run at a terminal")
    return getpass.getpass("CSCA passphrase: ").encode()


# -- kanim chip verify ----------------------------------------------------------------------


@chip_app.command("verify")
def verify(folder: Annotated[Path, typer.Argument(help="a chip image: EF.COM, DG1.bin, DG2.bin, …, EF.SOD")],
           csca: Annotated[list[Path], typer.Option("--csca", help="a trusted CSCA certificate (PEM or DER); repeatable")],
           crl: Annotated[list[Path], typer.Option("--crl", help="a CSCA revocation list; repeatable")] = [],  # noqa: B006
           at: Annotated[str, typer.Option(help="check as of this UTC date (YYYY-MM-DD); default now")] = "") -> None:
    """Passive Authentication of a chip image, as a border does it: the Document Signer chains to
    a trusted CSCA and is not revoked, the SOD's signature verifies, every data group hashes to
    the SOD's value. One line: VALID, or INVALID and why (exit 1).

    Example: kanim chip verify chip-X1000001/ --csca csca.pem --crl csca.crl
    """
    if not folder.is_dir():
        raise _fail(f"{folder} is not a folder")
    names = {lds.COM, lds.SOD, *map(lds.dg_file, lds.DG_TAGS)}
    files = {p.name: _read(p, "chip file") for p in sorted(folder.iterdir()) if p.name in names}
    try:
        cscas = [pki.load_certificate(_read(p, "certificate")) for p in csca]
        crls = [pki.load_crl(_read(p, "revocation list")) for p in crl]
        when = datetime.fromisoformat(at).replace(tzinfo=timezone.utc) if at else _now()
    except ValueError as e:
        raise _fail(f"bad --csca, --crl or --at: {e}") from None
    verdict = passive_authentication(files, cscas=cscas, crls=crls, at=when)
    typer.echo(verdict.line())
    if not verdict.ok:
        raise typer.Exit(1)


# -- the office's Document Signer ----------------------------------------------------------


def _office():  # noqa: ANN202
    from kanim.cli import _office as office_node
    return office_node()


@chip_app.command("trust")
def trust(certificate: Path) -> None:
    """Trust a CSCA certificate for the print room's own chip QC (check its fingerprint with the
    central operator first, by phone or on paper).

    Example: kanim chip trust csca.pem
    """
    from kanim.office.chip import trust_csca
    from kanim.domain.errors import DomainError
    try:
        cert = trust_csca(_office(), certificate=_read(certificate, "certificate"), actor="cli")
    except DomainError as e:
        raise _fail(f"{e.message} [{e.code}]") from None
    typer.echo(f"trusted CSCA {cert.subject.rfc4514_string()} sha256 {pki.fingerprint(cert)}")


@ds_app.command("request")
def ds_request(out: Annotated[Path, typer.Option(help="where to write the certificate request (PEM)")],
               label: Annotated[str, typer.Option(help="the key's label in the token")] = "") -> None:
    """Generate a new Document Signer key inside the token (never exportable) and write the
    certificate request the CSCA operator signs.

    Example: kanim chip ds request --out ds-2026q4.csr --label ds-2026q4
    """
    from kanim.office.chip import token_key
    office = _office()
    label = label or f"ds-{_now():%Y%m%d%H%M}"
    try:
        key = token_key(office, label)
        key.generate()
        out.write_bytes(certificate_request(key, office_code=office.settings.office_code))
    except TokenError as e:
        raise _fail(str(e)) from None
    typer.echo(f"key {label} generated in token {office.settings.chip_token_label}; request written to {out}")


@ds_app.command("install")
def ds_install(certificate: Path, label: Annotated[str, typer.Option(help="the key's label in the token")]) -> None:
    """Install the Document Signer certificate the CSCA issued for the token's key.

    Example: kanim chip ds install ds-2026q4.pem --label ds-2026q4
    """
    from kanim.domain.errors import DomainError
    from kanim.office.chip import install_document_signer
    try:
        cert = install_document_signer(_office(), certificate=_read(certificate, "certificate"),
                                       key_label=label, actor="cli")
    except TokenError as e:
        raise _fail(str(e)) from None
    except DomainError as e:
        raise _fail(f"{e.message} [{e.code}]") from None
    period = pki.key_usage_period(cert)
    typer.echo(f"Document Signer {pki.fingerprint(cert)[:16]} installed; signs until {period.usable_until.date()}")


@chip_app.command("status")
def status() -> None:
    """Whether chips can be personalised now, and until when (exit 1 when stopped).

    Example: kanim chip status
    """
    from kanim.office.chip import signer_state
    office = _office()
    with office.uow(readonly=True) as uow:
        s = signer_state(uow, required=office.settings.chip_required)
    if s.stop:
        typer.echo(f"stopped: {s.stop}")
        raise typer.Exit(1)
    if s.fingerprint is None:
        typer.echo(f"warning: {s.warning}")
        return
    typer.echo(f"ok: Document Signer {s.fingerprint[:16]} signs until {s.usable_until.date()}"
               + (f" (warning: {s.warning})" if s.warning else ""))


@chip_app.command("export")
def export(application_id: str, out: Annotated[Path, typer.Option(help="an empty folder to write the image to")]) -> None:
    """Write an electronic passport's chip image (the personalisation job) to a folder, for the
    encoder or for `kanim chip verify`. Audited: the folder holds a face and fingerprints in the
    clear; remove it when done.

    Example: kanim chip export 5f0c…-… --out /tmp/chip && kanim chip verify /tmp/chip --csca csca.pem
    """
    from kanim.domain.errors import DomainError
    from kanim.office.chip import export_image
    if out.exists() and any(out.iterdir()):
        raise _fail(f"{out} is not empty")
    try:
        m = export_image(_office(), application_id=application_id, out=out, actor="cli")
    except DomainError as e:
        raise _fail(f"{e.message} [{e.code}]") from None
    os.chmod(out, 0o700)
    typer.echo(f"chip image of booklet {m['booklet_serial']} written to {out} (SOD sha256 {m['sod_sha256'][:16]})")


# -- kanim central csca … (offline) --------------------------------------------------------

PassFile = Annotated[Path | None, typer.Option("--passphrase-file", help="the CSCA key's passphrase (else asked)")]
Folder = Annotated[Path, typer.Option("--dir", help="the CSCA's offline folder")]


@csca_app.command("create")
def csca_create(folder: Folder, passphrase_file: PassFile = None) -> None:
    """Create the CSCA: a P-384 key encrypted with a passphrase and its self-signed certificate.
    Prints the fingerprint offices check before trusting it.

    Example: kanim central csca create --dir /media/csca
    """
    try:
        cert = ceremony.create(folder, passphrase=_passphrase(passphrase_file), now=_now())
    except ceremony.CeremonyError as e:
        raise _fail(str(e)) from None
    typer.echo(f"CSCA created in {folder}; certificate {folder / ceremony.CERT}")
    typer.echo(f"fingerprint sha256 {pki.fingerprint(cert)}")


@csca_app.command("issue")
def csca_issue(request: Path, office: Annotated[str, typer.Option(help="the office's code")],
               out: Annotated[Path, typer.Option(help="where to write the certificate (PEM)")],
               folder: Folder, passphrase_file: PassFile = None) -> None:
    """Issue a Document Signer certificate to an office from its certificate request.

    Example: kanim central csca issue ds-2026q4.csr --office SMG --out ds-2026q4.pem --dir /media/csca
    """
    try:
        cert = ceremony.issue(folder, _read(request, "certificate request"), passphrase=_passphrase(passphrase_file),
                              office_code=office, now=_now())
    except ceremony.CeremonyError as e:
        raise _fail(str(e)) from None
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    period = pki.key_usage_period(cert)
    typer.echo(f"Document Signer for {office}: serial {cert.serial_number}, signs until "
               f"{period.usable_until.date()}, verifies until {cert.not_valid_after_utc.date()}")


@csca_app.command("crl")
def csca_crl(out: Annotated[Path, typer.Option(help="where to write the revocation list (DER)")], folder: Folder,
             revoke: Annotated[int | None, typer.Option(help="a Document Signer certificate's serial to revoke")] = None,
             passphrase_file: PassFile = None) -> None:
    """Sign the next revocation list, revoking a Document Signer first if --revoke names one.
    Carry it to the central and `kanim central csca publish` it.

    Example: kanim central csca crl --revoke 4242 --out csca-7.crl --dir /media/csca
    """
    try:
        der = ceremony.revoke_and_publish(folder, passphrase=_passphrase(passphrase_file), now=_now(), serial=revoke)
    except ceremony.CeremonyError as e:
        raise _fail(str(e)) from None
    out.write_bytes(der)
    typer.echo(f"revocation list written to {out}")


@csca_app.command("publish")
def csca_publish(crl: Path,
                 csca: Annotated[Path, typer.Option("--csca", help="the CSCA's certificate: the list must verify with it")]) -> None:
    """Send a revocation list to every office with the central's feed.

    Example: KANIM_DATA_DIR=/srv/central kanim central csca publish csca-7.crl --csca csca.pem
    """
    from kanim.cli import _central
    try:
        number = ceremony.publish_crl(_central(), _read(crl, "revocation list"),
                                      csca=_read(csca, "CSCA certificate"), actor="cli")
    except ceremony.CeremonyError as e:
        raise _fail(str(e)) from None
    typer.echo(f"revocation list {number} is in the feed for every office")
