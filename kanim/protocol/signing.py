"""Ed25519 keys and signatures for the link (part of kanim/protocol, docs/protocol.md).

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
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kanim.security.keyfiles import load_or_create

MAX_SKEW_SECONDS = 300  # a signed request older or newer than this is refused
NONCE_KEEP_SECONDS = 2 * MAX_SKEW_SECONDS  # a nonce outlives every request that could carry it
H_OFFICE, H_DATE, H_SIGNATURE = "X-Kanim-Office", "X-Kanim-Date", "X-Kanim-Signature"
H_NONCE, H_LINK_STATE = "X-Kanim-Nonce", "X-Kanim-Link-State"


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


def check_public_key(b64: str) -> None:
    """SignatureError unless `b64` is a base64 Ed25519 public key (an office's, as registered)."""
    _public(b64)


NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DATE_PATTERN = re.compile(r"^[0-9]{1,12}$")  # seconds since the epoch; bounded before int()
OFFICE_PATTERN = re.compile(r"^[A-Z0-9]{2,8}$")
SIGNATURE_MAX = 100  # base64 of a 64-byte Ed25519 signature is 88 characters


def request_message(method: str, path: str, date: str, nonce: str, body_sha256: str) -> bytes:
    """What an office signs: the request line, its date, a one-time nonce and the body's digest."""
    return "\n".join([method.upper(), path, date, nonce, body_sha256]).encode()


def sign_request(key: Ed25519PrivateKey, office_code: str, method: str, path: str, body: bytes,
                 now: float, *, nonce: str | None = None) -> dict[str, str]:
    date, nonce = str(int(now)), nonce or secrets.token_urlsafe(18)
    sig = key.sign(request_message(method, path, date, nonce, hashlib.sha256(body).hexdigest()))
    return {H_OFFICE: office_code, H_DATE: date, H_NONCE: nonce, H_SIGNATURE: base64.b64encode(sig).decode()}


@dataclass(frozen=True)
class SignedHeaders:
    office: str
    date: str
    nonce: str
    signature: bytes


def read_signed_headers(headers: Mapping[str, str], now: float) -> SignedHeaders:
    """The signature headers, each bounded and well-formed, and the date within the allowed
    skew: checked before a single byte of the body is read."""
    office, date = headers.get(H_OFFICE, ""), headers.get(H_DATE, "")
    nonce, sig = headers.get(H_NONCE, ""), headers.get(H_SIGNATURE, "")
    if not OFFICE_PATTERN.match(office):
        raise SignatureError(f"missing or malformed {H_OFFICE} header")
    if not DATE_PATTERN.match(date) or abs(now - int(date)) > MAX_SKEW_SECONDS:
        raise SignatureError("request date missing or outside the allowed clock skew")
    if not NONCE_PATTERN.match(nonce):
        raise SignatureError(f"missing or malformed {H_NONCE} header (16-64 characters of A-Z a-z 0-9 _ -)")
    try:
        raw = base64.b64decode(sig, validate=True) if len(sig) <= SIGNATURE_MAX else b""
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise SignatureError(f"missing or malformed {H_SIGNATURE} header")
    return SignedHeaders(office, date, nonce, raw)


def verify_signed(public_key: str, signed: SignedHeaders, method: str, path: str, body_sha256: str) -> None:
    try:
        _public(public_key).verify(signed.signature,
                                   request_message(method, path, signed.date, signed.nonce, body_sha256))
    except InvalidSignature as e:
        raise SignatureError("request signature does not verify") from e


def verify_request(public_key: str, method: str, path: str, body: bytes, headers: Mapping[str, str],
                   now: float) -> SignedHeaders:
    """The whole check in one call, for a body already read (kanim.central.auth streams it)."""
    signed = read_signed_headers(headers, now)
    verify_signed(public_key, signed, method, path, hashlib.sha256(body).hexdigest())
    return signed


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign_document(key: Ed25519PrivateKey, payload: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(payload))).decode()


def verify_document(public_key: str, payload: dict[str, Any], signature: str) -> None:
    try:
        _public(public_key).verify(base64.b64decode(signature), canonical(payload))
    except (InvalidSignature, ValueError) as e:
        raise SignatureError("signature does not verify") from e
