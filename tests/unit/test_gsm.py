"""An SMS's encoding and segments (kanim/notify/gsm.py), at the edges the networks bill by."""

from __future__ import annotations

import pytest

from kanim.notify import gsm
from kanim.notify.gsm import GSM7, UCS2, SmsCount, count, is_gsm7, segments, septets, transliterate


def test_the_default_alphabet_has_its_127_characters_and_the_extension_table_its_10() -> None:
    assert len(gsm.BASIC) == 127  # 128 positions, one of them the escape
    assert len(gsm.EXTENSION) == 10


def test_indonesian_text_with_rupiah_and_dates_is_gsm7() -> None:
    assert is_gsm7("Yth. Bapak/Ibu Siti, bayar Rp650.000 sebelum 1 Desember 2026, 10:30 WITA.")


@pytest.mark.parametrize("ch", list("€[]{}~^\\|"))
def test_an_extension_character_is_gsm7_and_counts_two_septets(ch: str) -> None:
    assert is_gsm7(ch)
    assert septets("a" + ch) == 3


def test_160_septets_are_one_sms_and_161_are_two() -> None:
    assert count("a" * 160) == SmsCount(GSM7, 160, 1)
    assert count("a" * 161) == SmsCount(GSM7, 161, 2)


def test_two_parts_hold_153_septets_each() -> None:
    assert segments("a" * 306) == 2
    assert segments("a" * 307) == 3


def test_extension_characters_fill_a_single_sms_sooner() -> None:
    assert count("€" * 80) == SmsCount(GSM7, 160, 1)
    assert count("a" * 159 + "€") == SmsCount(GSM7, 161, 2)


def test_an_extension_character_is_never_split_between_two_parts() -> None:
    # 306 septets would fit two parts of 153, but the escape would end part one and the € begin
    # part two: the € moves whole, and a third part is needed.
    text = "a" * 152 + "€" + "a" * 152
    assert septets(text) == 306
    assert segments(text) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2


def test_one_emoji_sends_the_whole_text_as_ucs2() -> None:
    assert count("a" * 69 + "😀") == SmsCount(UCS2, 71, 2)  # the emoji is a surrogate pair
    assert count("a" * 68 + "😀") == SmsCount(UCS2, 70, 1)
    assert count("ā" * 70) == SmsCount(UCS2, 70, 1)
    assert count("ā" * 71) == SmsCount(UCS2, 71, 2)
    assert segments("ā" * 134) == 2
    assert segments("ā" * 135) == 3


def test_a_surrogate_pair_is_never_split_between_two_parts() -> None:
    assert segments("ā" * 66 + "😀" + "ā" * 66) == 3  # 134 code units, but the pair moves whole


def test_an_empty_text_still_goes_as_one_sms() -> None:
    assert count("") == SmsCount(GSM7, 0, 1)


def test_septets_refuses_a_text_outside_gsm7() -> None:
    with pytest.raises(ValueError, match="UCS-2"):
        septets("😀")


@pytest.mark.parametrize(("typed", "sent"), [
    ("Jum\u2019at", "Jum'at"),
    ("\u201cpaspor\u201d", '"paspor"'),
    ("08:00\u201309:00", "08:00-09:00"),
    ("Kanim Manado \u2014 Sulut", "Kanim Manado - Sulut"),
    ("tunggu\u2026", "tunggu..."),
    ("Rp\u00a0650.000", "Rp 650.000"),
    ("08:30\u202fWITA", "08:30 WITA"),
    ("Ani\u00ad", "Ani"),
    ("Aní Çeşme", "Ani Çesme"),  # Ç is in the alphabet, ş is not
])
def test_typographic_characters_become_their_gsm7_lookalikes(typed: str, sent: str) -> None:
    assert transliterate(typed) == sent
    assert is_gsm7(transliterate(typed))


def test_transliteration_keeps_what_has_no_lookalike() -> None:
    assert transliterate("Siti 😀 李") == "Siti 😀 李"
    assert count(transliterate("Siti 😀")).encoding == UCS2


def test_one_curly_apostrophe_no_longer_doubles_the_price() -> None:
    text = "Yth. Bapak/Ibu Nu\u2019man, " + "a" * 120
    assert count(text).encoding == UCS2 and segments(text) == 3
    assert segments(transliterate(text)) == 1
