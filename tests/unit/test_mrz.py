from __future__ import annotations

import itertools
import random
import string
from datetime import date, timedelta

import pytest
from mrz.base.functions import hash_string
from mrz.checker.td3 import TD3CodeChecker

from kanim.domain.errors import InvalidInput
from kanim.domain.mrz import (
    MrzInput,
    SingleNameStyle,
    check_digit,
    name_field,
    split_name,
    td3,
    transliterate,
    verify_td3,
)
from kanim.domain.people import Sex

# The Doc 9303 Part 4 specimen (Anna Maria Eriksson, Utopia).
SPECIMEN_1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
SPECIMEN_2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"


def specimen_input(**changes) -> MrzInput:
    fields = dict(
        document_number="L898902C3", surname="Eriksson", given_names="Anna María",
        nationality="UTO", issuing_state="UTO", birth_date=date(1974, 8, 12), sex=Sex.F,
        expiry_date=date(2012, 4, 15), personal_number="ZE184226B",
    )
    fields.update(changes)
    return MrzInput(**fields)


def indonesian(**changes) -> MrzInput:
    fields = dict(
        document_number="X1234567", surname="", given_names="Sukarno",
        birth_date=date(1990, 8, 5), sex=Sex.M, expiry_date=date(2034, 8, 5),
    )
    fields.update(changes)
    return MrzInput(**fields)


def independent_check(line1: str, line2: str) -> TD3CodeChecker:
    return TD3CodeChecker(line1 + "\n" + line2)


def error_code(fn, *args, **kw) -> str:
    with pytest.raises(InvalidInput) as exc:
        fn(*args, **kw)
    return exc.value.code


# --- check digits --------------------------------------------------------------------------------


@pytest.mark.parametrize("field,digit", [
    ("L898902C3", "6"),   # specimen document number
    ("740812", "2"),      # specimen birth date
    ("120415", "9"),      # specimen expiry date
    ("ZE184226B<<<<<", "1"),  # specimen personal number
    ("L898902C36" + "7408122" + "1204159ZE184226B<<<<<1", "0"),  # specimen composite
    ("<<<<<<<<<<<<<<", "0"),
    ("", "0"),
])
def test_it_computes_the_doc_9303_specimen_check_digits(field, digit):
    assert check_digit(field) == digit


def test_its_check_digit_agrees_with_the_mrz_package_on_random_fields():
    rnd = random.Random(9303)
    alphabet = string.ascii_uppercase + string.digits + "<"
    for _ in range(500):
        field = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40)))
        assert check_digit(field) == hash_string(field), field


@pytest.mark.parametrize("bad", ["abc", "A B", "É", "12-3"])
def test_it_refuses_a_check_digit_over_characters_outside_the_mrz_alphabet(bad):
    assert error_code(check_digit, bad) == "mrz-alphabet"


# --- transliteration ------------------------------------------------------------------------


@pytest.mark.parametrize("name,expected", [
    ("Anna María", "ANNA<MARIA"),
    ("Élodie", "ELODIE"),
    ("Müller", "MUELLER"),
    ("Jöns Ärlig", "JOENS<AERLIG"),
    ("Straße", "STRASSE"),
    ("Muñoz", "MUNOZ"),
    ("Ångström", "AANGSTROEM"),
    ("Søren Ærø", "SOEREN<AEROE"),
    ("O'Brien", "OBRIEN"),
    ("D’Souza", "DSOUZA"),
    ("Jean-Luc", "JEAN<LUC"),
    ("Smith, Jr.", "SMITH<JR"),
    ("Siti  Nur   Aisyah", "SITI<NUR<AISYAH"),
    ("  Budi - Santoso  ", "BUDI<SANTOSO"),
    ("R2D2 Putra", "RD<PUTRA"),
    ("Nguyễn Văn Đức", "NGUYEN<VAN<DUC"),
    ("Çelik", "CELIK"),
    ("Wałęsa", "WALESA"),
    ("李 Budi", "BUDI"),
    ("ANNA<MARIA", "ANNA<MARIA"),
])
def test_it_transliterates_names_to_the_mrz_alphabet(name, expected):
    assert transliterate(name) == expected


def test_it_treats_a_decomposed_umlaut_like_a_composed_one():
    assert transliterate("Mu\u0308ller") == "MUELLER"


def test_transliteration_is_idempotent():
    for name in ["Anna María", "Jean-Luc O'Brien", "Müller-Lüdenscheidt"]:
        once = transliterate(name)
        assert transliterate(once) == once


def test_it_transliterates_a_name_with_nothing_writable_to_an_empty_string():
    assert transliterate("李明") == ""


# --- name field -------------------------------------------------------------------------------


def test_it_writes_primary_double_filler_secondary_padded_to_39():
    field = name_field("Eriksson", "Anna Maria")
    assert field == "ERIKSSON<<ANNA<MARIA" + "<" * 19
    assert len(field) == 39


def test_it_writes_a_lone_primary_identifier_without_a_trailing_separator():
    assert name_field("Sukarno", "") == "SUKARNO" + "<" * 32


def test_it_writes_a_lone_secondary_identifier_after_an_empty_primary():
    assert name_field("", "Sukarno") == "<<SUKARNO" + "<" * 30


def test_it_refuses_a_name_with_nothing_writable():
    assert error_code(name_field, "", "") == "mrz-name-empty"
    assert error_code(name_field, "李", "明") == "mrz-name-empty"


def test_it_fills_exactly_39_without_truncating():
    primary, secondary = "A" * 20, "B" * 17  # 20 + 2 + 17 = 39
    assert name_field(primary, secondary) == primary + "<<" + secondary


def test_it_truncates_the_secondary_identifier_first():
    field = name_field("Nurhaliza", "Siti Aminah Binti Abdullah Rahmawati Kusuma")
    assert field == "NURHALIZA<<SITI<AMINAH<BINTI<ABDULLAH<R"
    assert field[-1].isalpha()  # Doc 9303's signal for possible truncation


def test_it_keeps_the_primary_identifier_whole_when_one_secondary_character_fits():
    primary = "P" * 36  # 36 + "<<" + 1 = 39
    assert name_field(primary, "Budi") == primary + "<<B"


def test_it_truncates_the_primary_identifier_keeping_the_secondary_initial():
    field = name_field("Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft",
                       "Hubert Blaine")
    assert field == "WOLFESCHLEGELSTEINHAUSENBERGERDORFFV<<H"


def test_it_gives_the_secondary_more_room_when_the_primary_cut_lands_on_a_filler():
    primary = "A" * 35 + " " + "BBBB"  # the cut at 36 ends in a filler, which is dropped
    field = name_field(primary, "Cecilia")
    assert field == "A" * 35 + "<<CE"
    assert "<<<" not in field


def test_it_cuts_a_long_lone_identifier_at_the_width():
    assert name_field("X" * 50, "") == "X" * 39
    assert name_field("", "Y" * 50) == "<<" + "Y" * 37


def test_it_honours_a_different_width():
    assert name_field("Eriksson", "Anna", width=30) == "ERIKSSON<<ANNA" + "<" * 16
    assert name_field("Eriksson", "Anna Maria Louise", width=20) == "ERIKSSON<<ANNA<MARIA"


# --- splitting names -----------------------------------------------------------------------------


def test_it_makes_the_last_word_of_a_multi_word_name_the_primary_identifier():
    assert split_name("Siti Nurhaliza") == ("Nurhaliza", "Siti")
    assert split_name("Muhammad Rizki Ramadhan") == ("Ramadhan", "Muhammad Rizki")


def test_it_puts_a_single_name_in_the_primary_identifier_by_default():
    assert split_name("Sukarno") == ("Sukarno", "")


def test_it_puts_a_single_name_in_the_secondary_identifier_when_configured():
    assert split_name("Sukarno", SingleNameStyle.SECONDARY) == ("", "Sukarno")
    assert split_name("Sukarno", "secondary") == ("", "Sukarno")


def test_single_name_style_does_not_affect_multi_word_names():
    assert split_name("Siti Nurhaliza", SingleNameStyle.SECONDARY) == ("Nurhaliza", "Siti")


def test_an_explicit_primary_at_the_end_is_taken_off_the_full_name():
    assert split_name("Muhammad Rizki bin Ahmad", primary="bin Ahmad") == (
        "bin Ahmad", "Muhammad Rizki")


def test_an_explicit_primary_at_the_start_is_taken_off_the_full_name():
    assert split_name("Tan Mei Ling", primary="Tan") == ("Tan", "Mei Ling")


def test_an_explicit_primary_is_matched_ignoring_case():
    assert split_name("SITI NURHALIZA", primary="Siti") == ("Siti", "NURHALIZA")


def test_an_explicit_primary_not_in_the_name_leaves_the_name_as_secondary():
    assert split_name("Budi Santoso", primary="Wijaya") == ("Wijaya", "Budi Santoso")


def test_an_explicit_empty_primary_forces_the_secondary_style():
    assert split_name("Budi Santoso", primary="") == ("", "Budi Santoso")


def test_an_explicit_primary_equal_to_the_whole_name_leaves_no_secondary():
    assert split_name("Sukarno", SingleNameStyle.SECONDARY, primary="Sukarno") == ("Sukarno", "")


def test_it_refuses_to_split_an_empty_name():
    assert error_code(split_name, "   ") == "mrz-name-empty"


# --- TD3 generation --------------------------------------------------------------------------


def test_it_reproduces_the_doc_9303_specimen():
    assert td3(specimen_input()) == (SPECIMEN_1, SPECIMEN_2)


def test_it_writes_a_single_name_as_primary_identifier():
    line1, _ = td3(indonesian(surname="Sukarno", given_names=""))
    assert line1 == "P<IDNSUKARNO" + "<" * 32


def test_it_writes_a_single_name_as_secondary_identifier():
    line1, _ = td3(indonesian(surname="", given_names="Sukarno"))
    assert line1 == "P<IDN<<SUKARNO" + "<" * 30


def test_it_writes_filler_for_a_missing_sex_and_zero_for_an_empty_personal_number():
    _, line2 = td3(indonesian(sex=None))
    assert line2 == "X1234567<7IDN9008054<3408054" + "<" * 14 + "0" + check_digit(
        "X1234567<7" + "9008054" + "3408054" + "<" * 14 + "0")
    assert line2[20] == "<"


def test_it_pads_a_one_letter_document_type_and_keeps_a_two_letter_one():
    assert td3(indonesian())[0].startswith("P<IDN")
    assert td3(indonesian(document_type="pe"))[0].startswith("PEIDN")


def test_it_upper_cases_codes_and_numbers():
    line1, line2 = td3(indonesian(document_number="x1234567", nationality="idn",
                                  issuing_state="idn", personal_number="ab12"))
    assert line1.startswith("P<IDN")
    assert line2.startswith("X1234567<")
    assert line2[28:42] == "AB12" + "<" * 10


def test_it_writes_a_14_digit_personal_number_in_full():
    _, line2 = td3(indonesian(personal_number="31710105089000"))
    assert line2[28:42] == "31710105089000"
    assert verify_td3(*td3(indonesian(personal_number="31710105089000"))) == []


@pytest.mark.parametrize("number", ["1234567890", "AB-12345", "AB 12345", "", "   ", "É1234"])
def test_it_refuses_a_bad_document_number(number):
    assert error_code(td3, indonesian(document_number=number)) == "mrz-document-number"


def test_it_refuses_a_16_digit_nik_as_personal_number_because_only_14_fit():
    with pytest.raises(InvalidInput) as exc:
        td3(indonesian(personal_number="3171010508900001"))
    assert exc.value.code == "mrz-personal-number"
    assert "14" in exc.value.message


@pytest.mark.parametrize("doc_type", ["", "V", "PPP", "P1", "p<", "É"])
def test_it_refuses_a_document_type_that_is_not_a_passport_type(doc_type):
    assert error_code(td3, indonesian(document_type=doc_type)) == "mrz-document-type"


@pytest.mark.parametrize("field", ["nationality", "issuing_state"])
@pytest.mark.parametrize("value", ["INDO", "ID1", "I-D"])
def test_it_refuses_a_state_code_that_is_not_up_to_3_letters(field, value):
    assert error_code(td3, indonesian(**{field: value})) == "mrz-state"


def test_it_pads_a_short_state_code_like_germany():
    line1, line2 = td3(indonesian(issuing_state="D", nationality="D"))
    assert line1[2:5] == "D<<"
    assert line2[10:13] == "D<<"


def test_it_refuses_an_expiry_not_after_the_birth_date():
    assert error_code(td3, indonesian(expiry_date=date(1990, 8, 5))) == "mrz-dates"


def test_it_refuses_a_name_with_nothing_writable_in_td3():
    assert error_code(td3, indonesian(surname="", given_names="李明")) == "mrz-name-empty"


# --- verification -------------------------------------------------------------------------


def test_it_finds_no_problem_in_the_specimen():
    assert verify_td3(SPECIMEN_1, SPECIMEN_2) == []


def test_it_reports_wrong_line_lengths_and_stops_there():
    problems = verify_td3(SPECIMEN_1[:-1], SPECIMEN_2 + "<")
    assert problems == ["line 1 has 43 characters; a TD3 line has 44.",
                        "line 2 has 45 characters; a TD3 line has 44."]


def test_it_reports_characters_outside_the_alphabet():
    problems = verify_td3(SPECIMEN_1.replace("ANNA", "Anna"), SPECIMEN_2)
    assert problems == ["line 1 contains characters outside A-Z, 0-9 and <: 'an'."]


@pytest.mark.parametrize("position,what", [
    (9, "document number"), (19, "birth date"), (27, "expiry date"),
    (42, "personal number"), (43, "composite"),
])
def test_it_reports_each_wrong_check_digit(position, what):
    wrong = str((int(SPECIMEN_2[position]) + 1) % 10)
    line2 = SPECIMEN_2[:position] + wrong + SPECIMEN_2[position + 1:]
    problems = verify_td3(SPECIMEN_1, line2)
    assert f"The {what} check digit is '{wrong}'; expected '{SPECIMEN_2[position]}'." in problems


def test_a_changed_data_character_breaks_its_check_digit_and_the_composite():
    line2 = SPECIMEN_2.replace("L898902C3", "L898902C4")
    problems = verify_td3(SPECIMEN_1, line2)
    assert len(problems) == 2
    assert "document number" in problems[0] and "composite" in problems[1]


def test_it_accepts_filler_or_zero_as_check_digit_of_an_empty_personal_number():
    line1, line2 = td3(indonesian())
    assert line2[42] == "0"
    assert verify_td3(line1, line2[:42] + "<" + line2[43]) == []


def test_it_refuses_filler_as_check_digit_of_a_filled_personal_number():
    line2 = SPECIMEN_2[:42] + "<" + SPECIMEN_2[43]
    # The composite covers that position too, so it breaks as well.
    assert verify_td3(SPECIMEN_1, line2) == [
        "The personal number check digit is '<'; expected '1'.",
        "The composite check digit is '0'; expected '9'.",
    ]


def test_it_reports_a_non_passport_document_type():
    assert "a passport's starts with P" in verify_td3("V" + SPECIMEN_1[1:], SPECIMEN_2)[0]


def test_it_reports_impossible_dates_and_sex():
    line2 = SPECIMEN_2[:13] + "741312" + SPECIMEN_2[19] + "Q" + SPECIMEN_2[21:]
    problems = verify_td3(SPECIMEN_1, line2)
    assert "Birth date 741312 is not a valid YYMMDD date." in problems
    assert "Sex 'Q' is not M, F, X or <." in problems


def test_it_accepts_29_february_2000_as_a_date():
    line1, line2 = td3(indonesian(birth_date=date(2000, 2, 29)))
    assert line2[13:19] == "000229"
    assert verify_td3(line1, line2) == []


# --- against an independent implementation ------------------------------------------------------

_NAMES = [
    ("", "Sukarno"),
    ("Sukarno", ""),
    ("Nurhaliza", "Siti"),
    ("Ramadhan", "Muhammad Rizki"),
    ("Müller-Lüdenscheidt", "Jürgen Öskar"),
    ("Nguyễn", "Văn Đức"),
    ("O'Brien", "Seán"),
    ("Nurhaliza", "Siti Aminah Binti Abdullah Rahmawati Kusuma"),
    ("Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft", "Hubert Blaine"),
    ("A" * 35 + " Bbbb", "Cecilia"),
    ("Kusumawardhani", "Gusti Kanjeng Ratu Hemas Prabu Anom"),
]
_PERSONAL = ["", "31710105089000", "A1", "ZE184226B"]


def _generated_inputs():
    rnd = random.Random(44)
    for (surname, given), personal, sex in itertools.product(_NAMES, _PERSONAL,
                                                              [Sex.M, Sex.F, None]):
        # Realistic dates: the mrz package reads YY with Python's %y window (69-99 -> 19YY),
        # so an expiry after 2068 would read as a date before the birth.
        birth = date(1930, 1, 1) + timedelta(days=rnd.randrange(0, 34_000))
        issue = birth + timedelta(days=rnd.randrange(0, (date(2025, 1, 1) - birth).days))
        expiry = issue.replace(year=issue.year + rnd.choice([5, 10]), day=min(issue.day, 28))
        number = "".join(rnd.choice(string.ascii_uppercase + string.digits)
                         for _ in range(rnd.randint(1, 9)))
        yield MrzInput(document_number=number, surname=surname, given_names=given,
                       birth_date=birth, sex=sex, expiry_date=expiry,
                       personal_number=personal)


def _id(m: MrzInput) -> str:
    return f"{m.surname[:10]}|{m.given_names[:10]}|{m.personal_number}|{m.sex}|{m.document_number}"


@pytest.mark.parametrize("m", list(_generated_inputs()), ids=_id)
def test_generated_mrzs_pass_our_own_and_the_mrz_package_checks(m):
    line1, line2 = td3(m)
    assert len(line1) == len(line2) == 44
    assert verify_td3(line1, line2) == []
    checker = independent_check(line1, line2)
    # The mrz package checks all five check digits independently of us.
    assert checker._all_hashes()
    if line1[5:7] == "<<":
        # Disagreement with Doc 9303, documented: the mrz package rejects a name field that
        # starts with an empty primary identifier (P<IDN<<SUKARNO...), which Doc 9303 permits
        # and which SingleNameStyle.SECONDARY produces. Everything else must pass.
        assert checker.report.errors == ["invalid identifier format", "false identifier"]
    else:
        assert bool(checker), checker.report.errors


def test_the_mrz_package_accepts_the_single_name_primary_style_with_only_a_warning():
    checker = independent_check(*td3(indonesian(surname="Sukarno", given_names="")))
    assert bool(checker)
    assert checker.report.warnings == ["only one identifier"]


def test_the_mrz_package_warns_about_possible_truncation_of_a_full_name_field():
    m = indonesian(surname="Nurhaliza", given_names="Siti Aminah Binti Abdullah Rahmawati Kusuma")
    checker = independent_check(*td3(m))
    assert bool(checker)
    assert "possible truncating" in checker.report.warnings


def test_the_mrz_package_rejects_what_verify_td3_rejects():
    line2 = SPECIMEN_2[:19] + "3" + SPECIMEN_2[20:]
    assert verify_td3(SPECIMEN_1, line2)
    assert not bool(independent_check(SPECIMEN_1, line2))
