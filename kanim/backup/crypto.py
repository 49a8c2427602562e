"""The backup's cryptography, on the `cryptography` library. Pure: no I/O.

- A blob's id is HMAC-SHA256 of its plaintext under the node's dedup key: equal pieces get equal
  ids (that is the deduplication), and the id says nothing else about the content to whoever
  holds the target.
- A sealed box (X25519 ECDH with a fresh ephemeral key, HKDF-SHA256, AES-256-GCM) encrypts to the
  office's backup public key. The node holds only the public key, so a node taken over by an
  attacker cannot read its own old backups; the private key is kept offline on paper.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
INFO = b"kanim-backup-seal-v1"


class DecryptError(Exception):
    pass


def new_private_key() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def public_of(private: bytes) -> bytes:
    return _raw_public(X25519PrivateKey.from_private_bytes(private).public_key())


def blob_id(dedup_key: bytes, data: bytes) -> str:
    return hmac.new(dedup_key, data, hashlib.sha256).hexdigest()


def seal(public: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ephemeral public key (32) + nonce (12) + AES-GCM ciphertext and tag."""
    eph = X25519PrivateKey.generate()
    eph_pub = _raw_public(eph.public_key())
    key = _derive(eph.exchange(X25519PublicKey.from_public_bytes(public)), eph_pub, public)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return eph_pub + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(private: bytes, box: bytes, aad: bytes) -> bytes:
    me = X25519PrivateKey.from_private_bytes(private)
    eph_pub, nonce, ct = box[:KEY_BYTES], box[KEY_BYTES:KEY_BYTES + NONCE_BYTES], box[KEY_BYTES + NONCE_BYTES:]
    try:
        key = _derive(me.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, public_of(private))
        return AESGCM(key).decrypt(nonce, ct, aad)
    except (InvalidTag, ValueError):
        raise DecryptError("cannot decrypt: not sealed to this key, or altered") from None


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, box: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise DecryptError("a piece failed authentication (altered or damaged)") from None


def _derive(shared: bytes, eph_pub: bytes, recipient: bytes) -> bytes:
    # Both public keys in the salt: a box cannot be re-addressed to another recipient.
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=eph_pub + recipient, info=INFO).derive(shared)


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
