"""The machine-readable zone (MRZ) of a passport data page: ICAO Doc 9303 TD3, two lines of 44.

Line 1::

    P<IDNPRIMARY<<SECONDARY<<<<<<<<<<<<<<<<<<<<<<
    ^^                                            document type (P + optional 2nd letter or <)
      ^^^                                         issuing state
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^  name field, 39 characters

Line 2 (positions 1-based)::

    1-9 document number, 10 check, 11-13 nationality, 14-19 birth YYMMDD, 20 check, 21 sex,
    22-27 expiry YYMMDD, 28 check, 29-42 personal number, 43 check, 44 composite check
    (composite over positions 1-10, 14-20 and 22-43).

Only A-Z, 0-9 and the filler `<` may appear. See docs/mrz.md for the rules in prose.

Single names (an explicit, configurable choice)
-----------------------------------------------
Indonesian law has no surname, and many Indonesians have exactly one name ("Sukarno"). Doc 9303
Part 4 says a name that cannot be divided goes wholly into the primary identifier, and that is
the default here (`SingleNameStyle.PRIMARY`)::

    P<IDNSUKARNO<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<

Passports in circulation also show the other form, an empty primary identifier followed by the
name as the secondary identifier (`SingleNameStyle.SECONDARY`)::

    P<IDN<<SUKARNO<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<

Both are produced and both carry correct check digits; the office picks one in its settings and
passes it to `split_name`. Readers differ on the second form (the `mrz` Python package, for
one, rejects an identifier that begins with `<<`), which is one more reason PRIMARY is default.

Multi-word names: by default the LAST word becomes the primary identifier and the other words
the secondary one ("Siti Nurhaliza" -> NURHALIZA<<SITI). This mirrors the
surname-like use of the last word on Indonesian-issued passports and on foreign visas, but it is
an assumption, not law, so `split_name` accepts an explicit `primary` that overrides it (e.g.
for "Muhammad Rizki bin Ahmad", or when the applicant's previous passport divided it otherwise).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kanim.domain.errors import InvalidInput
from kanim.domain.people import Sex

LINE_LENGTH = 44
NAME_WIDTH = 39
FILLER = "<"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # index = check-digit value
_WEIGHTS = (7, 3, 1)

# Doc 9303 Part 3 section 6 lists, for some letters, a multi-letter transliteration as the
# recommended one (Ä -> AE ...) and the bare base letter as an alternative. We use the
# recommended forms, because the German/Nordic holders these letters come from usually have
# them on their own passports; every other accented letter loses its accent via Unicode
# decomposition (É -> E, Ñ -> N, Ç -> C).
_SPECIAL = {
    "Ä": "AE", "Ö": "OE", "Ü": "UE", "Å": "AA", "Æ": "AE", "Ø": "OE", "Œ": "OE",
    "ß": "SS", "ẞ": "SS", "Þ": "TH", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŀ": "L",
}
_APOSTROPHES = frozenset("'’‘ʼ`´")
_SEPARATORS = frozenset(",.<")  # plus whitespace and every dash (Unicode category Pd)


class SingleNameStyle(StrEnum):
    """Where a one-word name goes in the MRZ name field (see the module docstring)."""

    PRIMARY = "primary"  # P<IDNSUKARNO<<<...
    SECONDARY = "secondary"  # P<IDN<<SUKARNO<<<...


def check_digit(field: str) -> str:
    """Doc 9303 check digit: 0-9 as themselves, A-Z as 10-35, `<` as 0; weights 7,3,1; mod 10."""
    total = 0
    for i, ch in enumerate(field):
        value = 0 if ch == FILLER else _ALPHABET.find(ch)
        if value < 0:
            raise InvalidInput(
                f"Character {ch!r} cannot appear in an MRZ; only A-Z, 0-9 and < can.",
                code="mrz-alphabet",
            )
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def _is_separator(ch: str) -> bool:
    return ch in _SEPARATORS or ch.isspace() or unicodedata.category(ch) == "Pd"


def transliterate(name: str) -> str:
    """Turn a name as written into MRZ characters.

    Upper-case; Ä/Ö/Ü/Å/Æ/Ø/Œ/ß/Þ and a few others by the Doc 9303 recommended table; all other
    accents stripped; apostrophes removed ("O'Brien" -> OBRIEN); spaces, hyphens, commas, dots
    (and `<` itself, so the function is idempotent) become one `<`; anything else, digits
    included, is dropped. Leading and trailing fillers are removed.
    """
    out: list[str] = []
    # NFC first so that a decomposed "A" + combining diaeresis still meets the Ä rule.
    for ch in unicodedata.normalize("NFC", name).upper():
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _APOSTROPHES:
            continue
        elif _is_separator(ch):
            out.append(FILLER)
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            out.append("".join(c for c in base.upper() if "A" <= c <= "Z"))
    return re.sub("<+", FILLER, "".join(out)).strip(FILLER)


def name_field(primary: str, secondary: str, width: int = NAME_WIDTH) -> str:
    """The name field: PRIMARY<<SECONDARY padded with `<` to `width` (39 on a TD3).

    Both parts are passed through `transliterate`. An empty secondary gives just PRIMARY; an empty
    primary gives <<SECONDARY (the SECONDARY single-name style).

    Truncation, when the name does not fit (Doc 9303 Parts 3/4):
    1. The primary identifier is kept whole if it leaves room for `<<` and at least one
       character of the secondary identifier; the secondary identifier is then cut at `width`.
    2. Otherwise the primary identifier is cut to `width - 3` characters (a filler left at the
       cut is dropped so that no `<<<` appears), followed by `<<` and as much of the secondary
       identifier as fits, at least its initial.
    3. With only one identifier, it is cut at `width`.
    The cut is plain: no component is abbreviated or dropped, so a truncated field normally ends
    in a letter, which is how Doc 9303 signals possible truncation to readers.
    """
    p, s = transliterate(primary), transliterate(secondary)
    if not p and not s:
        raise InvalidInput("The name has no characters that can be written in an MRZ.",
                           code="mrz-name-empty")
    if p and s and len(p) > width - 3:
        p = p[: width - 3].rstrip(FILLER)
    full = p + (FILLER * 2 + s if s else "")
    return full[:width].ljust(width, FILLER)


def split_name(
    full_name: str,
    single_name_style: SingleNameStyle = SingleNameStyle.PRIMARY,
    *,
    primary: str | None = None,
) -> tuple[str, str]:
    """Split a name as written on the KTP into (primary identifier, secondary identifier).

    - `primary` given: it is used as is. If `full_name` ends (or else starts) with it, those
      words are taken off and the rest is the secondary identifier; otherwise `full_name` is
      the secondary identifier in full. `primary=""` forces an empty primary identifier.
    - One word: placed by `single_name_style`.
    - Several words: the last word is the primary identifier, the others the secondary one
      (an assumption: Indonesian names have no surname; see the module docstring).
    """
    words = full_name.split()
    if not words:
        raise InvalidInput("The name is empty.", code="mrz-name-empty")
    if primary is not None:
        p_words = primary.split()
        n = len(p_words)
        folded = [w.casefold() for w in words]
        target = [w.casefold() for w in p_words]
        if n and folded[-n:] == target:
            rest = words[:-n]
        elif n and folded[:n] == target:
            rest = words[n:]
        else:
            rest = words
        return " ".join(p_words), " ".join(rest)
    if len(words) == 1:
        if SingleNameStyle(single_name_style) is SingleNameStyle.SECONDARY:
            return "", words[0]
        return words[0], ""
    return words[-1], " ".join(words[:-1])


@dataclass(frozen=True, kw_only=True)
class MrzInput:
    """What goes into a TD3 MRZ. Names are as written; `td3` transliterates them.

    `surname` is the primary identifier and may be empty (see `SingleNameStyle`). `personal_number`
    is printed as given: the caller decides what goes there (a 16-digit NIK does not fit in 14).
    """

    document_number: str
    surname: str
    given_names: str
    nationality: str = "IDN"
    issuing_state: str = "IDN"
    birth_date: date
    sex: Sex | None
    expiry_date: date
    personal_number: str = ""
    document_type: str = "P"


def _code(value: str, width: int, *, what: str, code: str, letters_only: bool = False) -> str:
    """Upper-case `value`, check its alphabet and width, and pad it with fillers."""
    v = value.strip().upper()
    allowed = _ALPHABET[10:] if letters_only else _ALPHABET
    if len(v) > width or any(c not in allowed for c in v):
        kind = "letters A-Z" if letters_only else "letters A-Z and digits 0-9"
        raise InvalidInput(
            f"The {what} must be at most {width} {kind}; {value!r} was given.", code=code
        )
    return v.ljust(width, FILLER)


def _yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


def td3(m: MrzInput) -> tuple[str, str]:
    """The two 44-character MRZ lines of a passport; `InvalidInput` (mrz-...) on bad input."""
    doc_type = m.document_type.strip().upper()
    if not 1 <= len(doc_type) <= 2 or doc_type[0] != "P" or not doc_type.isalpha() \
            or not doc_type.isascii():
        raise InvalidInput(
            f"A passport's document type is P, optionally followed by one letter; "
            f"{m.document_type!r} was given.",
            code="mrz-document-type",
        )
    issuing = _code(m.issuing_state, 3, what="issuing state code", code="mrz-state",
                    letters_only=True)
    nationality = _code(m.nationality, 3, what="nationality code", code="mrz-state",
                        letters_only=True)
    if not m.document_number.strip():
        raise InvalidInput("The document number is empty.", code="mrz-document-number")
    number = _code(m.document_number, 9, what="document number", code="mrz-document-number")
    personal = _code(m.personal_number, 14, what="personal number", code="mrz-personal-number")
    if m.expiry_date <= m.birth_date:
        raise InvalidInput(
            f"The expiry date {m.expiry_date.isoformat()} is not after the birth date "
            f"{m.birth_date.isoformat()}.",
            code="mrz-dates",
        )

    line1 = doc_type.ljust(2, FILLER) + issuing + name_field(m.surname, m.given_names)
    birth, expiry = _yymmdd(m.birth_date), _yymmdd(m.expiry_date)
    sex = Sex(m.sex).value if m.sex is not None else FILLER
    # An empty personal number gets check digit 0 (Doc 9303 allows 0 or <): 0 is what the
    # algorithm itself yields for fillers, so even a naive reader agrees.
    line2 = (
        number + check_digit(number)
        + nationality
        + birth + check_digit(birth)
        + sex
        + expiry + check_digit(expiry)
        + personal + check_digit(personal)
    )
    line2 += _composite(line2)
    return line1, line2


def _composite(line2: str) -> str:
    """Composite check digit over positions 1-10, 14-20 and 22-43 (1-based) of line 2."""
    return check_digit(line2[0:10] + line2[13:20] + line2[21:43])


def _valid_yymmdd(s: str) -> bool:
    if not s.isdigit():
        return False
    try:
        # Any century will do except for 29 February: 2000 is a leap year, so use 20YY.
        date(2000 + int(s[0:2]), int(s[2:4]), int(s[4:6]))
    except ValueError:
        return False
    return True


def verify_td3(line1: str, line2: str) -> list[str]:
    """Check a TD3 MRZ; return the problems found, in plain words (empty list: valid).

    Checks: line lengths, alphabet, document type P, date formats, sex (M, F, X or <), the four
    check digits and the composite. An empty personal number may carry 0 or < as its check digit.
    """
    problems: list[str] = []
    for label, line in (("line 1", line1), ("line 2", line2)):
        if len(line) != LINE_LENGTH:
            problems.append(f"{label} has {len(line)} characters; a TD3 line has 44.")
        bad = sorted({c for c in line if c != FILLER and c not in _ALPHABET})
        if bad:
            problems.append(
                f"{label} contains characters outside A-Z, 0-9 and <: {''.join(bad)!r}."
            )
    if problems:
        return problems  # positions and check digits mean nothing in a malformed line

    if line1[0] != "P":
        problems.append(f"Document type starts with {line1[0]!r}; a passport's starts with P.")
    if not _valid_yymmdd(line2[13:19]):
        problems.append(f"Birth date {line2[13:19]} is not a valid YYMMDD date.")
    if not _valid_yymmdd(line2[21:27]):
        problems.append(f"Expiry date {line2[21:27]} is not a valid YYMMDD date.")
    if line2[20] not in "MFX<":
        problems.append(f"Sex {line2[20]!r} is not M, F, X or <.")

    digits = (
        ("document number", line2[0:9], line2[9]),
        ("birth date", line2[13:19], line2[19]),
        ("expiry date", line2[21:27], line2[27]),
        ("personal number", line2[28:42], line2[42]),
        ("composite", line2[0:10] + line2[13:20] + line2[21:43], line2[43]),
    )
    for what, field, given in digits:
        expected = check_digit(field)
        if what == "personal number" and set(field) == {FILLER} and given in "0<":
            continue
        if given != expected:
            problems.append(f"The {what} check digit is {given!r}; expected {expected!r}.")
    return problems
