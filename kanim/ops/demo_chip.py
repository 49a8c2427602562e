"""The demo's chip set-up (docs/chip.md): the key ceremonies of a real office, run in one go.

A CSCA in `<demo>/csca/` (its key encrypted with a passphrase kept beside it: acceptable for a
demo only, where everything is fictional; a real CSCA's passphrase is never on disk), a SoftHSM2
token in `<demo>/office/softhsm/` holding the office's Document Signer key, its certificate
installed. On a machine without SoftHSM2 nothing is set up and the demo says so: its electronic
passports then print without chip content (there is no software-key fallback, so that no
demo ever signs a chip with a key outside a token)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kanim.chip import ceremony, softhsm
from kanim.chip.signer import certificate_request
from kanim.security.filemodes import create_private

CSCA_DIR, TOKEN_DIR, PASSPHRASE = "csca", "softhsm", "passphrase.demo-only"


def token_conf(office_dir: Path) -> Path:
    return office_dir / TOKEN_DIR / "softhsm2.conf"


def use_token(office_dir: Path) -> bool:
    """Point SoftHSM2 (in this process and the nodes it starts) at the demo's token, if it has one."""
    conf = token_conf(office_dir)
    if conf.is_file():
        os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf.is_file()


def set_up(root: Path, office_settings) -> str:  # noqa: ANN001
    """Run the ceremonies for the demo's office; returns one line saying what was done."""
    if (why := softhsm.available()) is not None:
        return f"chips: not personalised ({why}); electronic passports print without chip content"
    from kanim.bootstrap import bootstrap
    from kanim.office import chip

    office_dir = Path(office_settings.data_dir)
    softhsm.init_token(office_dir / TOKEN_DIR, label=office_settings.chip_token_label,
                       pin_file=office_settings.chip_pin_file or office_dir / "keys" / "token.pin")
    use_token(office_dir)
    folder, now = root / CSCA_DIR, datetime.now(UTC)
    folder.mkdir(mode=0o700, exist_ok=True)
    passphrase = secrets.token_urlsafe(18)
    create_private(folder / PASSPHRASE)
    (folder / PASSPHRASE).write_text(passphrase + "\n")
    csca = ceremony.create(folder, passphrase=passphrase.encode(), now=now - timedelta(minutes=5))
    office = bootstrap(office_settings, central=None)
    try:
        chip.trust_csca(office, certificate=csca.public_bytes(serialization.Encoding.PEM), actor="provision")
        key = chip.token_key(office, f"ds-{now:%Y%m%d}")
        key.generate()
        cert = ceremony.issue(folder, certificate_request(key, office_code=office_settings.office_code),
                              passphrase=passphrase.encode(), office_code=office_settings.office_code, now=now)
        chip.install_document_signer(office, certificate=cert.public_bytes(serialization.Encoding.PEM),
                                     key_label=key.key_label, actor="provision")
    finally:
        office.engine.dispose()
    return f"chips: signed by a Document Signer in a SoftHSM2 token, issued by the demo CSCA in {folder}"


def verify_one(root: Path, office_settings) -> str | None:  # noqa: ANN001
    """Passive Authentication of one electronic passport the demo printed, as `kanim chip
    verify` does it; the line to show, or None when the demo has no chips."""
    import json

    from sqlalchemy import select

    from kanim.bootstrap import bootstrap
    from kanim.chip import pki
    from kanim.chip.verify import passive_authentication
    from kanim.office.chip import job_files
    from kanim.store import tables as t

    if not (root / CSCA_DIR / ceremony.CERT).is_file():
        return None
    office = bootstrap(office_settings, central=None)
    try:
        with office.uow() as uow:
            row = uow.session.execute(select(t.chip_image).order_by(t.chip_image.c.created_at)).first()
            if row is None:
                return None
            uow.audit(actor="provision", action="BiometricRead", subject=row.application_id,
                      detail={"kind": "chip", "position": 0, "purpose": "demo chip check"})
            uow.commit()
            count = len(uow.session.execute(select(t.chip_image.c.booklet_serial)).all())
        job = office.vault.get(row.file_ref)
    finally:
        office.engine.dispose()
    csca = pki.load_certificate((root / CSCA_DIR / ceremony.CERT).read_bytes())
    verdict = passive_authentication(job_files(job), cscas=[csca], at=datetime.now(UTC))
    serial = json.loads(job)["manifest"]["booklet_serial"]
    return (f"chips: {count} electronic passport(s) personalised; booklet {serial}: {verdict.line()}\n"
            f"  check one yourself: cd {root / 'office'} && kanim chip export {row.application_id} --out /tmp/chip"
            f" && kanim chip verify /tmp/chip --csca {root / CSCA_DIR / ceremony.CERT}")
