"""Ed25519 keys and signatures for the link.

Each office signs every request to the central with its own private key; the central holds
only the offices' public keys, so a copy of the central's database lets no one impersonate an
office. The central signs watch-list snapshots and deltas with its key; offices refuse any
whose signature does not verify. Why signed requests rather than mutual TLS: they work through
any TLS-terminating proxy an office's network imposes, and a key is one file to back up.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kanim.security.keyfiles import load_or_create

MAX_SKEW_SECONDS = 300  # a signed request older or newer than this is refused (replay window)
H_OFFICE, H_DATE, H_SIGNATURE = "X-Kanim-Office", "X-Kanim-Date", "X-Kanim-Signature"


class SignatureError(Exception):
    pass


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    def make() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    pem = load_or_create(path, make)  # KeyFileError (one line with the fix) if it is exposed
    return serialization.load_pem_private_key(pem, password=None)  # type: ignore[return-value]


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _public(b64: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))
    except Exception as e:  # noqa: BLE001 - any malformed key is the same error to the caller
        raise SignatureError("not an Ed25519 public key") from e


def request_message(method: str, path: str, date: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, date, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(key: Ed25519PrivateKey, office_code: str, method: str, path: str, body: bytes,
                 now: float) -> dict[str, str]:
    date = str(int(now))
    sig = key.sign(request_message(method, path, date, body))
    return {H_OFFICE: office_code, H_DATE: date, H_SIGNATURE: base64.b64encode(sig).decode()}


def verify_request(public_key: str, method: str, path: str, body: bytes, headers: Mapping[str, str],
                   now: float) -> None:
    date, sig = headers.get(H_DATE, ""), headers.get(H_SIGNATURE, "")
    if not date.isdigit() or abs(now - int(date)) > MAX_SKEW_SECONDS:
        raise SignatureError("request date missing or outside the allowed clock skew")
    try:
        _public(public_key).verify(base64.b64decode(sig), request_message(method, path, date, body))
    except (InvalidSignature, ValueError) as e:
        raise SignatureError("request signature does not verify") from e


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign_document(key: Ed25519PrivateKey, payload: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(payload))).decode()


def verify_document(public_key: str, payload: dict[str, Any], signature: str) -> None:
    try:
        _public(public_key).verify(base64.b64decode(signature), canonical(payload))
    except (InvalidSignature, ValueError) as e:
        raise SignatureError("signature does not verify") from e
