"""The central's biometrics, sealed at rest, and every read audited.

Faces and fingerprints arrive with each office's capture operation. The registry keeps them
sealed with AES-256-GCM under the central's biometric key, a file apart from the database
(`KANIM_KEY_FILE`, by default `<data dir>/keys/biometric.key`, mode 0600): a dump or backup of
the database alone reveals no image. The application id and finger position are the associated
data, so a sealed image moved to another row does not open.

Each sealed blob names its key (the first 8 bytes of the key's SHA-256), so the key can be
rotated without a flag day: `kanim central biometrics rekey` retires the current key (kept as
`biometric-<id>.key` beside it), makes a new one and re-seals every row; `--prune` then removes
retired keys that no row needs any more. Back the new key up apart from the database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select, update

from kanim.central import tables as ct
from kanim.security.vault import VaultError, load_or_create_key

MAGIC = b"KNR1"
KEY_ID_BYTES, NONCE_BYTES = 8, 12


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


@dataclass
class Keyring:
    """The current key (seals) and retired ones (still open what they sealed)."""

    path: Path
    current: bytes
    retired: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> Keyring:
        ring = cls(path, load_or_create_key(path))
        for p in sorted(path.parent.glob(f"{path.stem}-*{path.suffix}")):
            old = load_or_create_key(p)
            ring.retired[key_id(old)] = old
        return ring

    def seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + key_id(self.current) + nonce + AESGCM(self.current).encrypt(nonce, data, aad)

    def unseal(self, blob: bytes, aad: bytes) -> bytes:
        if not blob.startswith(MAGIC):
            raise VaultError("a sealed biometric has an unknown format")
        kid = blob[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]
        key = self.current if kid == key_id(self.current) else self.retired.get(kid)
        if key is None:
            raise VaultError(f"no key {kid.hex()} to open this biometric (a retired key file was removed?)")
        rest = blob[len(MAGIC) + KEY_ID_BYTES:]
        try:
            return AESGCM(key).decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], aad)
        except InvalidTag as e:
            raise VaultError("a sealed biometric failed authentication (tampered, or moved to another row)") from e

    def sealed_with(self, blob: bytes) -> bytes:
        return blob[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]

    def retire_and_renew(self) -> bytes:
        """Keep the current key as a retired one and make a new current key."""
        old = self.current
        retired = self.path.with_name(f"{self.path.stem}-{key_id(old).hex()}{self.path.suffix}")
        if not retired.exists():
            os.replace(self.path, retired)  # same folder, same 0600 mode
        else:
            self.path.unlink()
        self.retired[key_id(old)] = old
        self.current = load_or_create_key(self.path)
        return key_id(self.current)


def aad(application_id: str, position: int) -> bytes:
    return f"{application_id}:{position}".encode()


def read(node, *, application_id: str, position: int, actor: str, purpose: str) -> bytes:  # noqa: ANN001
    """One image from the registry; the read is audited (who, which, why) in the same
    transaction, so there is no read without its audit row."""
    from kanim.domain.errors import NotFound

    b = ct.registry_biometric.c
    with node.uow() as uow:
        row = uow.session.execute(select(b.sealed).where(b.application_id == application_id,
                                                         b.position == position)).first()
        if row is None or row.sealed is None:
            raise NotFound(f"no image at position {position} for application {application_id}",
                           code="biometric-not-found")
        data = node.biometric_keys.unseal(row.sealed, aad(application_id, position))
        uow.audit(actor=actor, action="BiometricRead", subject=application_id,
                  detail={"position": position, "purpose": purpose})
        uow.commit()
    return data


def seal_plaintext(node, *, batch: int = 200) -> int:  # noqa: ANN001
    """Seal rows stored before images were sealed (plain base64 in `data`), and empty them."""
    import base64

    b = ct.registry_biometric.c
    done = 0
    while True:
        with node.uow() as uow:
            rows = uow.session.execute(select(b.application_id, b.position, b.data).where(b.data.is_not(None))
                                       .limit(batch)).all()
            for r in rows:
                sealed = node.biometric_keys.seal(base64.b64decode(r.data), aad(r.application_id, r.position))
                uow.session.execute(update(ct.registry_biometric).where(
                    b.application_id == r.application_id, b.position == r.position).values(sealed=sealed, data=None))
            if rows:
                uow.audit(actor="central", action="BiometricsSealed", subject="registry", detail={"rows": len(rows)})
            uow.commit()
        done += len(rows)
        if len(rows) < batch:
            return done


def rekey(node, *, actor: str, batch: int = 200) -> dict[str, int]:  # noqa: ANN001
    """Rotate the biometric key: retire the current one, make a new one, re-seal every row."""
    ring: Keyring = node.biometric_keys
    new = ring.retire_and_renew()
    b = ct.registry_biometric.c
    resealed = 0
    last: tuple[str, int] = ("", -1)
    while True:
        with node.uow() as uow:
            rows = uow.session.execute(
                select(b.application_id, b.position, b.sealed).where(
                    b.sealed.is_not(None), (b.application_id > last[0]) |
                    ((b.application_id == last[0]) & (b.position > last[1])))
                .order_by(b.application_id, b.position).limit(batch)).all()
            for r in rows:
                if ring.sealed_with(r.sealed) == new:
                    continue
                a = aad(r.application_id, r.position)
                uow.session.execute(update(ct.registry_biometric).where(
                    b.application_id == r.application_id, b.position == r.position)
                    .values(sealed=ring.seal(ring.unseal(r.sealed, a), a)))
                resealed += 1
            uow.commit()
        if not rows:
            break
        last = (rows[-1].application_id, rows[-1].position)
    with node.uow() as uow:
        uow.audit(actor=actor, action="BiometricKeyRotated", subject="registry",
                  detail={"key": new.hex(), "resealed": resealed})
        uow.commit()
    return {"resealed": resealed, "retired_keys": len(ring.retired)}


SEALING_KEY = "biometric_sealing_key"  # central_state: the key a running central seals with


def record_sealing_key(node) -> None:  # noqa: ANN001
    """Said by a central when it starts: prune must never remove the key it seals new images with."""
    from kanim.central.tables import central_state

    kid = key_id(node.biometric_keys.current).hex()
    with node.uow() as uow:
        uow.session.execute(central_state.delete().where(central_state.c.name == SEALING_KEY))
        uow.session.execute(central_state.insert().values(name=SEALING_KEY, value=kid))
        uow.session.commit()


def prune_retired(node) -> int:  # noqa: ANN001
    """Remove retired key files that no sealed row needs and no running central seals with
    (a central started before the rekey keeps sealing with its key until it is restarted)."""
    from kanim.central.tables import central_state

    ring: Keyring = node.biometric_keys
    b = ct.registry_biometric.c
    removed = 0
    with node.uow(readonly=True) as uow:
        used = {bytes(r[0]) for r in uow.session.execute(
            select(func.substr(b.sealed, len(MAGIC) + 1, KEY_ID_BYTES)).where(b.sealed.is_not(None)).distinct())}
        sealing = uow.session.execute(select(central_state.c.value).where(central_state.c.name == SEALING_KEY)).scalar()
    if sealing:
        used.add(bytes.fromhex(sealing))
    for kid in list(ring.retired):
        if kid in used:
            continue
        ring.path.with_name(f"{ring.path.stem}-{kid.hex()}{ring.path.suffix}").unlink(missing_ok=True)
        del ring.retired[kid]
        removed += 1
    return removed
