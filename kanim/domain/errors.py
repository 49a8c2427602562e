"""Errors the domain raises. Each carries a stable `code` so that the web layer can turn it
into an RFC 9457 problem document (type URI, title, status) and the CLI into a one-line message.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken. `code` is stable and machine-readable; the message is for people."""

    code = "domain-error"
    status = 422  # HTTP status the web layer uses

    def __init__(self, message: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.extra = extra

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(DomainError):
    """Input that can never be valid (bad NIK, unknown finger position, malformed code)."""

    code = "invalid-input"
    status = 422


class NotFound(DomainError):
    code = "not-found"
    status = 404


class Conflict(DomainError):
    """The request is valid but the current state forbids it (transition out of order,
    booklet already used, quota full)."""

    code = "conflict"
    status = 409


class GateClosed(Conflict):
    """A print or handover gate does not hold; `reasons` says which clearances block it."""

    code = "gate-closed"

    def __init__(self, message: str, *, reasons: list[str], code: str | None = None) -> None:
        super().__init__(message, code=code, reasons=reasons)
        self.reasons = reasons


class Expired(DomainError):
    code = "expired"
    status = 410


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403


class TooLarge(InvalidInput):
    code = "upload-too-large"
    status = 413
