"""The office ↔ central contract, in one place both roles import (docs/protocol.md).

- `operations`: the name of every operation an office may push (`Op`);
- `schemas`: the envelope and the payload schema of each operation, checked at the central;
- `wire`: the dataclasses both sides speak in (Operation, OperationResult, CentralEvent, ...);
- `feed`: the central's feed document and what its signature covers;
- `signing`: Ed25519 request and document signatures;
- `numbers`: the application-number format both roles read;
- `batch`: how a push's body is laid out, by version (JSON; the binary batch from version 3).

This package imports nothing of either role (kanim.office, kanim.central, kanim.link,
kanim.web, kanim.store, kanim.bootstrap): tests/unit/test_import_rules.py walks the imports.

The version rule: within a version, a change may only add — an optional payload field, a new
operation type (which an older central refuses per operation, so it is added only after every
central knows it) or a new feed event kind. Anything an older reader would misread (a renamed
or removed field, a changed meaning, another body layout) is a new version; the central then
accepts the old and the new one side by side until the last office is upgraded.
"""

from __future__ import annotations

# 1: what every office sent before the version was declared (no version header).
# 2: the same operations and payloads, with the version named in `X-Kanim-Protocol`.
# 3: the same operations and payloads; a push's body is a binary batch (kanim/protocol/batch.py:
#    the images as bytes, the rest compressed) instead of JSON with base64 images.
PROTOCOL_VERSION = 3
OLDEST_VERSION = 1  # the oldest an office may still speak to this central
H_PROTOCOL = "X-Kanim-Protocol"
# A push that carries urgent work (medical, hajj/umrah, a near travel date): "1". A hint for the
# central's admission when it is full (kanim/central/auth.py), not signed: an office that claims
# urgency it does not have gains at most the small share the central keeps for urgent pushes.
H_URGENT = "X-Kanim-Urgent"
VERSION_PATTERN = r"^[0-9]{1,4}$"


class VersionUnsupported(ValueError):
    """The office speaks a version this central does not (yet, or any more)."""


def version_of(header: str | None) -> int:
    """The protocol version a request declares: none declared is version 1."""
    if header is None or header == "":
        return 1
    if not (header.isascii() and header.isdigit() and len(header) <= 4):
        raise VersionUnsupported(f"{H_PROTOCOL} must be a version number, e.g. {PROTOCOL_VERSION}")
    version = int(header)
    if not OLDEST_VERSION <= version <= PROTOCOL_VERSION:
        raise VersionUnsupported(
            f"this central speaks link protocol versions {OLDEST_VERSION} to {PROTOCOL_VERSION}, the office sent "
            f"version {version}: upgrade the central before the offices (docs/protocol.md)")
    return version
