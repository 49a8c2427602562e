"""What an SMS costs: its encoding and its number of segments (3GPP TS 23.038 and 23.040).

A text made only of the GSM 03.38 default alphabet goes as GSM-7: 160 septets in one SMS, 153 per
part once it is split (each part carries a 7-septet concatenation header). The extension table
(`€ [ ] { } ~ ^ \\ |` and form feed) costs two septets a character: an escape, then the character.
A single other character (an emoji, a curly quote, an Indonesian name in another script) sends
the whole text as UCS-2: 70 UTF-16 code units in one SMS, 67 per part; an emoji outside the Basic
Multilingual Plane is two code units.

An escape and its character, like the two halves of a surrogate pair, are never split between two
parts, so a text can need one part more than its length divided by 153 (or 67) says.

`transliterate` first writes the typographic characters that phones and word processors put in
(curly quotes, dashes, the ellipsis, no-break spaces) as their GSM-7 look-alikes: one curly
apostrophe would otherwise more than double the price of a message.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The default alphabet in table order; 0x1B (the escape to the extension table) is not a character.
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7, UCS2 = "GSM-7", "UCS-2"
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}  # (one SMS, each part of a concatenated one)

_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\t": " ",
    "\u200b": "", "\u00ad": "", "\u2060": "", "\ufeff": "",  # invisible: a zero-width or soft hyphen
    "\u2022": "-", "\u00b7": "-",
}


@dataclass(frozen=True)
class SmsCount:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int  # SMS parts the network bills


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return all(ch in BASIC or ch in EXTENSION for ch in text)


def septets(text: str) -> int:
    """The length of `text` in GSM-7 septets (an extension character counts two)."""
    if not is_gsm7(text):
        raise ValueError("the text has characters outside GSM-7; count it as UCS-2")
    return sum(_gsm_weights(text))


def count(text: str) -> SmsCount:
    """Encoding, length and segments of `text` as it is (transliterate it first if you may)."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    weights = _gsm_weights(text) if encoding == GSM7 else _utf16_weights(text)
    return SmsCount(encoding, sum(weights), _pack(weights, *LIMITS[encoding]))


def segments(text: str) -> int:
    return count(text).segments


def transliterate(text: str) -> str:
    """`text` with typographic characters as their GSM-7 look-alikes, and accented letters outside
    the alphabet (á, ç, ş) without their accent; anything else (an emoji, another script) is kept,
    and the text then goes as UCS-2."""
    return "".join(_lookalike(ch) for ch in text)


def _lookalike(ch: str) -> str:
    if ch in BASIC or ch in EXTENSION:
        return ch
    if ch in _LOOKALIKES:
        return _LOOKALIKES[ch]
    # A letter with a mark the alphabet lacks keeps its base letter: "Aní" reads fine as "Ani".
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else ch


def _gsm_weights(text: str) -> list[int]:
    return [2 if ch in EXTENSION else 1 for ch in text]


def _utf16_weights(text: str) -> list[int]:
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(weights: list[int], single: int, per_part: int) -> int:
    """Parts needed when no character may straddle two parts. An empty text still goes as one."""
    total = sum(weights)
    if total <= single:
        return 1
    parts, used = 1, 0
    for weight in weights:
        if used + weight > per_part:
            parts, used = parts + 1, 0
        used += weight
    return parts
