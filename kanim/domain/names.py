"""What a passport can print in a name (and in the other printed text fields, such as the place
of birth), and the one normalised form in which such text is stored, printed on the data page
and written into the MRZ.

The rule
--------
A printed name may hold only:

- Latin letters: A-Z, a-z and the accented Latin letters of Unicode's Latin-1 Supplement,
  Latin Extended-A, Latin Extended-B and Latin Extended Additional blocks (é, ñ, ç, ø, ß, ş,
  Vietnamese ư and ễ ...), as long as the MRZ can transliterate them (ICAO Doc 9303 Part 3, see
  `kanim.domain.mrz.transliterate`): a letter with no A-Z reading (ŋ, ĸ) is refused, because the
  data page and the MRZ would then disagree;
- a space, a hyphen-minus `-`, an apostrophe `'` and a full stop `.` (Indonesian KTPs abbreviate:
  "MOH. RIZKI"). The MRZ writes `-` and `.` as a filler and drops the apostrophe.

Everything else is refused with the character's Unicode name and 1-based position: digits,
commas (they only ever separate academic titles, which a passport does not print), emoji,
control characters (NUL), invisible format characters (zero-width space, the bidi overrides
that make the data page read "LIVE NAME" while the MRZ reads `NAME<<EVIL`), full-width
letters, other scripts. The data-page font (DejaVu Sans) covers every letter accepted here; a
unit test checks it.

The normalised form
-------------------
Unicode NFC (so that "e" + combining acute and "é" are one name); the typographic apostrophes a
phone or a word processor puts in (’ ‘ ʼ ` ´) become `'`; runs of spaces (tabs, line breaks, the
no-break space) become one space, and none is left at either end.
"""

from __future__ import annotations

import unicodedata

from kanim.domain.errors import InvalidInput
from kanim.domain.mrz import transliterate

NAME_MAX_LENGTH = 200  # longer than any KTP name; the MRZ truncates at 39 characters anyway
PLACE_MAX_LENGTH = 100

PUNCTUATION = frozenset(" -'.")
_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}
# The Unicode blocks of Latin letters the data-page font and the MRZ transliteration cover.
_LATIN_BLOCKS = ((0x00C0, 0x024F), (0x1E00, 0x1EFF))
_LETTER_CATEGORIES = frozenset({"Lu", "Ll", "Lt"})
RULE = "Latin letters, spaces, hyphens, apostrophes and full stops"


def _is_space(ch: str) -> bool:
    # Only real spaces and line breaks collapse. Python's str.isspace() would also take the
    # information separators U+001C-U+001F, which are control characters and refused.
    return ch in "\t\n\r" or unicodedata.category(ch) == "Zs"


def is_printable_letter(ch: str) -> bool:
    """A Latin letter the data page can print and the MRZ can transliterate."""
    if "A" <= ch <= "Z" or "a" <= ch <= "z":
        return True
    cp = ord(ch)
    if not any(lo <= cp <= hi for lo, hi in _LATIN_BLOCKS):
        return False
    return unicodedata.category(ch) in _LETTER_CATEGORIES and transliterate(ch) != ""


def describe(ch: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': how a refused character is named to people."""
    fallback = "control character" if unicodedata.category(ch) == "Cc" else "unnamed character"
    return f"U+{ord(ch):04X} {unicodedata.name(ch, fallback)}"


def normalise_text(text: str) -> str:
    """NFC, typographic apostrophes as `'`, whitespace collapsed and trimmed. No refusal here."""
    nfc = unicodedata.normalize("NFC", text)
    mapped = "".join(" " if _is_space(c) else _APOSTROPHES.get(c, c) for c in nfc)
    return " ".join(w for w in mapped.split(" ") if w)


def printable_text(text: str, *, field: str, required: bool = True,
                   max_length: int = NAME_MAX_LENGTH) -> str:
    """The normalised form of a printed text field, or `InvalidInput`:

    - `name-character`: a character a passport cannot print (extra: field, character and its
      1-based position in the normalised text);
    - `name-empty`: no letter at all, when `required` (an empty optional field gives "");
    - `name-too-long`: over `max_length` characters after normalisation.
    """
    normal = normalise_text(text)
    for position, ch in enumerate(normal, start=1):
        if ch not in PUNCTUATION and not is_printable_letter(ch):
            raise InvalidInput(
                f"{field}: {describe(ch)} at position {position} cannot be printed in a passport; "
                f"a printed name may hold {RULE}",
                code="name-character", field=field, character=describe(ch), position=position)
    if len(normal) > max_length:
        raise InvalidInput(f"{field} is {len(normal)} characters long; the limit is {max_length}",
                           code="name-too-long", field=field, limit=max_length)
    if (required or normal) and not any(is_printable_letter(c) for c in normal):
        raise InvalidInput(f"{field} has no letter to print", code="name-empty", field=field)
    return normal


def printable_name(text: str, *, field: str = "full_name") -> str:
    """A person's name as it is stored, printed and written into the MRZ (see the module)."""
    return printable_text(text, field=field)


def name_key(name: str) -> str:
    """What two spellings of one name share, for comparing a name on a KTP with the application:
    case, accents, apostrophes and spacing are ignored ("SITI  RAHMAWATI" = "Siti Rahmawati",
    "JOSÉ" = "Jose"); letters are not ("Siti Rahmawati" is not "Siti Rahmawaty")."""
    normal = normalise_text(name)
    bare = "".join(c for c in unicodedata.normalize("NFKD", normal) if not unicodedata.combining(c))
    words = bare.replace("'", "").replace("-", " ").replace(".", " ").casefold().split()
    return " ".join(words)


def same_name(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)
