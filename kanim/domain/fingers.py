"""Fingers by their standard codes, and the reasons a finger can be skipped at capture.

Positions use the codes of ISO/IEC 19794-4 and ANSI/NIST-ITL (the FGP field): 1 right thumb to
5 right little finger, 6 left thumb to 10 left little finger (0, "unknown", is not accepted:
the office always knows which finger it scanned). The image checks are in
`kanim.biometrics.fingerprint`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class FingerPosition(IntEnum):
    RIGHT_THUMB = 1
    RIGHT_INDEX = 2
    RIGHT_MIDDLE = 3
    RIGHT_RING = 4
    RIGHT_LITTLE = 5
    LEFT_THUMB = 6
    LEFT_INDEX = 7
    LEFT_MIDDLE = 8
    LEFT_RING = 9
    LEFT_LITTLE = 10

    @property
    def label(self) -> str:
        """'right thumb', 'left little', ..."""
        return self.name.lower().replace("_", " ")


class FingerException(StrEnum):
    """Why a finger has no print: recorded instead of an image, so capture can complete."""

    MISSING = "missing"  # amputated or absent from birth: permanent
    INJURED = "injured"  # bandaged or wounded: temporarily unusable
    UNREADABLE = "unreadable"  # present, but worn ridges or skin conditions defeat the scanner
