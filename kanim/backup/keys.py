"""The keys of recovery, and the sheets of paper they are kept on.

- The backup key pair (X25519): the node keeps only the public key (`keys/backup.pub`); the
  private key is written once to a file the office takes away (a USB stick in the safe) and
  printed as a paper key. Nothing on the node can read a backup.
- The escrow sheet: the node's own secret keys (the vault's biometric key, the office's signing
  key, the notifications' digest key), on paper, kept apart from the backup key. Backups never
  carry them, so a stolen backup plus a stolen backup key still does not open the biometrics,
  and a restore needs this sheet: without it the restore stops and says so.
- The dedup key: not secret from the office (it only makes equal pieces get equal names); kept
  on the node and carried in each (encrypted) manifest, so a restored node keeps deduplicating.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from kanim.backup import crypto, paper
from kanim.config import Settings
from kanim.security.filemodes import FILE_MODE, fsync_dir, private_dir
from kanim.security.keyfiles import load_or_create

PUBLIC, DEDUP, VAULT = "backup.pub", "backup_dedup.key", "biometric.key"
NOT_ESCROWED = {PUBLIC, DEDUP}  # the public key and the dedup key are not secrets to escrow


class BackupKeyError(Exception):
    """A key that is missing, mistyped or wrong; one line with what to do."""


def public_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / PUBLIC


def keygen(settings: Settings, private_out: Path, *, replace: bool = False) -> str:
    """A new key pair: the private key's sheet written to `private_out` (never to the node),
    the public key to the node. Returns the sheet's text, to print."""
    pub_path = public_path(settings)
    if pub_path.exists() and not replace:
        raise BackupKeyError(f"this node already has a backup key ({pub_path}); keep it, or make a new one "
                        "with --replace (older backups still need the old private key)")
    private = crypto.new_private_key()
    sheet = (f"# kanim backup key, office {settings.office_code}: keep offline, apart from the escrow sheet\n"
             f"office: {settings.office_code}\nprivate key: {paper.encode(private)}\n")
    _write_once(private_out, sheet.encode())
    private_dir(pub_path.parent)
    pub_path.write_text(f"public key: {paper.encode(crypto.public_of(private))}\n")
    pub_path.chmod(FILE_MODE)
    return sheet


def load_public(settings: Settings) -> bytes:
    path = public_path(settings)
    if not path.is_file():
        raise BackupKeyError(f"this node has no backup key ({path}); make one with "
                        "`kanim backup keygen --private-out /media/usb/kanim-backup.key`")
    return _sheet_value(path, "public key")


def load_private(path: Path) -> bytes:
    if not path.is_file():
        raise BackupKeyError(f"no backup key at {path}: give the file `kanim backup keygen` wrote (--key), "
                        "or type the paper key into a file: a line `private key: ` and its groups as printed")
    key = _sheet_value(path, "private key")
    if len(key) != crypto.KEY_BYTES:
        raise BackupKeyError(f"{path} does not hold a backup private key")
    return key


def dedup_key(settings: Settings) -> bytes:
    return load_or_create(settings.data_dir / "keys" / DEDUP, lambda: secrets.token_bytes(32))


def escrow_sheet(settings: Settings) -> str:
    """The node's secret keys on paper. The vault key first: it alone opens the biometrics.
    Each key is made here if the node has not yet (a node made by `kanim db upgrade` makes them
    when it first serves): a sheet printed at setup must already hold every key the node uses."""
    from kanim.link.signing import load_or_create_key as signing_key
    from kanim.office.notify import digest_key
    from kanim.security.vault import load_or_create_key as vault_key

    vault_key(settings.key_path)
    if settings.role == "office":
        signing_key(settings.office_key_path)
        digest_key(settings)
    keys = {VAULT: settings.key_path} | {
        p.name: p for p in sorted((settings.data_dir / "keys").glob("*"))
        if p.is_file() and p.name not in NOT_ESCROWED | {VAULT}}
    lines = [f"# kanim key escrow, office {settings.office_code}: keep apart from the backup key", f"office: {settings.office_code}"]
    lines += [f"{name}: {paper.encode(_on_paper(name, path.read_bytes()))}" for name, path in keys.items()]
    return "\n".join(lines) + "\n"


def load_escrow(path: Path | None) -> dict[str, bytes]:
    if path is None:
        raise BackupKeyError("a restore needs the escrow sheet (--escrow FILE, from `kanim backup escrow`): without "
                        "the vault key the restored biometrics could not be read")
    if not path.is_file():
        raise BackupKeyError(f"no escrow sheet at {path}")
    entries = paper.labelled(path.read_text())
    entries.pop("office", None)
    if VAULT not in entries:
        raise BackupKeyError(f"the escrow sheet {path} has no {VAULT} line: the vault could not be read")
    try:
        return {name: _from_paper(name, paper.decode(value)) for name, value in entries.items() if _plain_name(name)}
    except paper.PaperKeyError as e:
        raise BackupKeyError(f"escrow sheet {path}: {e}") from None


def install_escrow(settings: Settings, escrow: dict[str, bytes]) -> list[str]:
    """The escrowed keys written into a new node's keys folder (never over a key there): the
    node is the same office again — the central knows it by its signing key — with nothing
    else, to be rebuilt from the central when every backup is lost (docs/recovery-runbook.md)."""
    folder = private_dir(settings.data_dir / "keys")
    for name in escrow:
        if (folder / name).exists():
            raise BackupKeyError(f"{folder / name} exists: install the escrowed keys into a new node's folder only")
    for name, data in sorted(escrow.items()):
        _write_once(folder / name, data)
    return sorted(escrow)


def _on_paper(name: str, data: bytes) -> bytes:
    """An Ed25519 PEM goes on paper as its 32-byte seed (a third of the letters to type)."""
    if name.endswith(".pem"):
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(data, password=None)
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return data


def _from_paper(name: str, data: bytes) -> bytes:
    if name.endswith(".pem"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = Ed25519PrivateKey.from_private_bytes(data)
        except ValueError:
            raise BackupKeyError(f"the escrow sheet's {name} is not an Ed25519 key") from None
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return data


def _plain_name(name: str) -> bool:
    return name == os.path.basename(name) and name not in ("", ".", "..")


def _sheet_value(path: Path, label: str) -> bytes:
    entries = paper.labelled(path.read_text(errors="replace"))
    if label not in entries:
        raise BackupKeyError(f"{path} has no '{label}:' line")
    try:
        return paper.decode(entries[label])
    except paper.PaperKeyError as e:
        raise BackupKeyError(f"{path}: {e}") from None


def _write_once(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise BackupKeyError(f"{path} exists: kanim does not overwrite a key file (choose another name)") from None
    except OSError as e:
        raise BackupKeyError(f"cannot write {path}: {e.strerror}") from None
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
