"""The central's feed as signed: what the signature of an event covers, and where it travels.

The central signs every event it emits (kanim/central/hub.py); the office verifies each before
applying it (kanim/link/inbox.py). Both build the signed document here, so they cannot drift."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kanim.protocol.signing import sign_document, verify_document

FEED_SIGNATURE = "feed_signature"  # the payload member that carries the event's signature


def feed_document(event_id: str, kind: str, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the feed signature covers: the event without its signature."""
    return {"id": event_id, "kind": kind, "subject": subject,
            "payload": {k: v for k, v in payload.items() if k != FEED_SIGNATURE}}


def sign_event(key: Ed25519PrivateKey, event_id: str, kind: str, subject: str,
               payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its feed signature."""
    return {**payload, FEED_SIGNATURE: sign_document(key, feed_document(event_id, kind, subject, payload))}


def verify_event(public_key: str, event_id: str, kind: str, subject: str, payload: dict[str, Any]) -> None:
    """SignatureError unless the event was signed by the holder of `public_key`."""
    verify_document(public_key, feed_document(event_id, kind, subject, payload), payload.get(FEED_SIGNATURE, ""))
