"""What a passport can print in a name, and the one normalised form stored, printed and written
into the MRZ (kanim.domain.names)."""

from __future__ import annotations

import unicodedata

import pytest

from kanim.domain.errors import InvalidInput
from kanim.domain.mrz import name_field, split_name, transliterate
from kanim.domain.names import is_printable_letter, printable_name, printable_text, same_name
from kanim.render.datapage import SANS_BOLD, find_font


def refusal(text: str, **kw: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        printable_text(text, field=kw.pop("field", "full_name"), **kw)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(("given", "stored"), [
    ("Siti Rahmawati", "Siti Rahmawati"),
    ("  Siti \t Rahmawati\n", "Siti Rahmawati"),
    ("Siti\u00a0Rahmawati", "Siti Rahmawati"),  # a no-break space from a word processor
    ("Jose\u0301 Mari\u0301a", "José María"),  # decomposed accents become NFC
    ("Anne-Marie O\u2019Brien", "Anne-Marie O'Brien"),  # the typographic apostrophe becomes '
    ("MOH. RIZKI", "MOH. RIZKI"),
    ("Nguyễn Thị Ánh", "Nguyễn Thị Ánh"),
    ("Łukasz Ørsted Müller", "Łukasz Ørsted Müller"),
])
def test_a_printable_name_is_stored_in_one_normalised_form(given: str, stored: str) -> None:
    normal = printable_name(given)
    assert normal == stored
    assert unicodedata.is_normalized("NFC", normal)
    assert printable_name(normal) == normal  # idempotent: stored, printed and re-read alike


@pytest.mark.parametrize(("text", "character", "position"), [
    ("LIVE NAME\u202e\u2066EVIL\u2069", "U+202E RIGHT-TO-LEFT OVERRIDE", 10),
    ("Siti\u200bRahmawati", "U+200B ZERO WIDTH SPACE", 5),
    ("Siti\x00", "U+0000 control character", 5),
    ("Ｓｉｔｉ", "U+FF33 FULLWIDTH LATIN CAPITAL LETTER S", 1),
    ("Siti \U0001f600", "U+1F600 GRINNING FACE", 6),
    ("Sukarno 2", "U+0032 DIGIT TWO", 9),
    ("Budi, S.H.", "U+002C COMMA", 5),
    ("Сергей", "U+0421 CYRILLIC CAPITAL LETTER ES", 1),
    ("Ŋgala", "U+014A LATIN CAPITAL LETTER ENG", 1),  # a Latin letter the MRZ cannot write
    ("Siti\x1fRahma", "U+001F control character", 5),  # str.isspace() says yes; it is a control
])
def test_a_name_with_a_character_a_passport_cannot_print_is_refused_naming_it(
        text: str, character: str, position: int) -> None:
    error = refusal(text)
    assert error.code == "name-character"
    assert error.extra == {"field": "full_name", "character": character, "position": position}
    assert character in str(error) and f"position {position}" in str(error)


def test_a_name_with_a_bidi_override_is_refused() -> None:
    """The bug: the data page showed "LIVE NAME" while the MRZ read NAME<<EVIL."""
    assert refusal("EVIL\u202eEMAN EVIL").code == "name-character"


def test_a_name_with_no_letter_is_refused() -> None:
    assert refusal(" - . ").code == "name-empty"
    assert refusal("").code == "name-empty"


def test_an_optional_printed_field_may_be_empty_but_not_unprintable() -> None:
    assert printable_text("  ", field="birth_place", required=False) == ""
    assert printable_text("Tanjung  Pinang", field="birth_place", required=False) == "Tanjung Pinang"
    error = refusal("Manado\U0001f334", field="birth_place", required=False)
    assert (error.code, error.extra["field"]) == ("name-character", "birth_place")


def test_a_name_longer_than_the_limit_after_normalising_is_refused() -> None:
    assert printable_text("A" * 10 + " " * 300 + "B", field="x", max_length=12) == "AAAAAAAAAA B"
    assert refusal("A" * 13, max_length=12).code == "name-too-long"


def _accepted_letters() -> list[str]:
    return [chr(cp) for cp in range(0x30000) if is_printable_letter(chr(cp))]


def test_every_accepted_letter_is_written_in_the_mrz_as_letters() -> None:
    letters = _accepted_letters()
    assert len(letters) > 400  # A-Z, a-z and the accented Latin letters
    for ch in letters:
        mrz = transliterate(ch)
        assert mrz and set(mrz) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (ch, mrz)


def test_an_accepted_name_always_makes_a_valid_mrz_name_field() -> None:
    for name in ["José María", "Anne-Marie O'Brien", "MOH. RIZKI", "Nguyễn Thị Ánh", "Sukarno"]:
        field = name_field(*split_name(printable_name(name)))
        assert len(field) == 39 and set(field) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ<")


def test_the_data_page_font_has_a_glyph_for_every_accepted_character() -> None:
    from fontTools.ttLib import TTFont

    path = find_font(SANS_BOLD)
    if path is None:
        pytest.skip(f"{SANS_BOLD} is not installed (Debian: fonts-dejavu-core); the data page falls back to "
                    "Pillow's own font")
    cmap = TTFont(str(path)).getBestCmap()
    printed = set("".join(_accepted_letters()) + " -'.")
    printed |= set("".join(c.upper() for c in printed))  # the data page prints names in capitals
    missing = [f"U+{ord(c):04X}" for c in sorted(printed) if ord(c) not in cmap]
    assert missing == []


def test_names_are_compared_without_case_accents_or_spacing() -> None:
    assert same_name("SITI  RAHMAWATI", "Siti Rahmawati")
    assert same_name("JOSE MARIA", "José María")
    assert same_name("ANNE MARIE OBRIEN", "Anne-Marie O'Brien")
    assert not same_name("Siti Rahmawaty", "Siti Rahmawati")
    assert not same_name("Siti", "Siti Rahmawati")
