"""Fingers by their standard codes, and the reasons a finger can be skipped at capture.

Positions use the codes of ISO/IEC 19794-4 and ANSI/NIST-ITL (the FGP field): 1 right thumb to
5 right little finger, 6 left thumb to 10 left little finger (0, "unknown", is not accepted:
the office always knows which finger it scanned). The image checks are in
`kanim.biometrics.fingerprint`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from kanim.domain.errors import InvalidInput

POSITION_RULE = "finger position must be 1-10 (ISO/IEC 19794-4)"


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


def parse_position(value: int | str) -> FingerPosition:
    """A finger position from its code (3, "3") or its name ("right_middle", "right middle")."""
    if isinstance(value, FingerPosition):
        return value
    code: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        code = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            code = int(text)
        else:
            name = text.upper().replace(" ", "_").replace("-", "_")
            if name in FingerPosition.__members__:
                return FingerPosition[name]
    if code is not None and code in FingerPosition._value2member_map_:
        return FingerPosition(code)
    raise InvalidInput(f"{POSITION_RULE}; got {value!r}", code="fingerprint-position")
