from __future__ import annotations

from datetime import date

import pytest

from kanim.domain.errors import InvalidInput
from kanim.domain.nik import NikInfo, check_nik_matches, parse_nik
from kanim.domain.people import Sex

TODAY = date(2024, 6, 20)


def nik(*, prov="31", reg="71", dist="01", day="05", month="08", yy="90", serial="0001") -> str:
    return prov + reg + dist + day + month + yy + serial


def code_of(value: str, **kw) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_nik(value, today=kw.pop("today", TODAY))
    return exc.value.code


# --- decoding -------------------------------------------------------------------------------


def test_it_decodes_a_mans_nik():
    info = parse_nik("3171010508900001", today=TODAY)
    assert info == NikInfo(
        nik="3171010508900001", province="31", regency="71", district="01",
        birth_date=date(1990, 8, 5), sex=Sex.M, serial="0001",
    )
    assert info.region_code == "317101"


def test_it_decodes_a_womans_nik_by_subtracting_40_from_the_day():
    info = parse_nik(nik(day="45"), today=TODAY)
    assert info.sex is Sex.F
    assert info.birth_date == date(1990, 8, 5)


@pytest.mark.parametrize("day,sex,real", [("01", Sex.M, 1), ("31", Sex.M, 31),
                                          ("41", Sex.F, 1), ("71", Sex.F, 31)])
def test_it_accepts_the_edges_of_both_day_ranges(day, sex, real):
    info = parse_nik(nik(day=day, month="01"), today=TODAY)
    assert (info.sex, info.birth_date.day) == (sex, real)


def test_it_ignores_surrounding_whitespace():
    assert parse_nik(" 3171010508900001\n", today=TODAY).nik == "3171010508900001"


def test_it_accepts_the_highest_serial():
    assert parse_nik(nik(serial="9999"), today=TODAY).serial == "9999"


# --- century ----------------------------------------------------------------------------------


def test_it_reads_a_past_two_digit_year_in_this_century():
    assert parse_nik(nik(yy="10"), today=TODAY).birth_date == date(2010, 8, 5)


def test_it_reads_a_year_that_would_be_in_the_future_as_last_century():
    assert parse_nik(nik(yy="30"), today=TODAY).birth_date == date(1930, 8, 5)


def test_it_reads_a_birthday_later_this_year_as_a_hundred_years_ago():
    # 5 August 2024 is after 20 June 2024, so the holder was born in 1924.
    assert parse_nik(nik(yy="24"), today=TODAY).birth_date == date(1924, 8, 5)


def test_it_accepts_a_baby_born_today():
    assert parse_nik(nik(day="20", month="06", yy="24"), today=TODAY).birth_date == TODAY


def test_it_uses_the_current_date_when_today_is_not_given():
    assert parse_nik(nik(yy="00")).birth_date == date(2000, 8, 5)


# --- each rule ----------------------------------------------------------------------------------


def test_it_rejects_15_digits_and_says_how_many_were_given():
    with pytest.raises(InvalidInput) as exc:
        parse_nik("317101050890000", today=TODAY)
    assert exc.value.code == "nik-length"
    assert "15" in exc.value.message


def test_it_rejects_17_digits():
    assert code_of("31710105089000011") == "nik-length"


def test_it_rejects_an_empty_nik():
    assert code_of("") == "nik-length"


@pytest.mark.parametrize("value", ["31710105089O0001", "3171 0105089 001", "317101050890000-",
                                   "٣١٧١٠١٠٥٠٨٩٠٠٠٠١"])
def test_it_rejects_anything_but_ascii_digits(value):
    assert code_of(value) == "nik-not-digits"


@pytest.mark.parametrize("prov", ["00", "01", "10"])
def test_it_rejects_province_codes_below_11(prov):
    assert code_of(nik(prov=prov)) == "nik-province"


def test_it_accepts_province_11():
    assert parse_nik(nik(prov="11"), today=TODAY).province == "11"


def test_it_rejects_day_00():
    assert code_of(nik(day="00")) == "nik-day"


@pytest.mark.parametrize("day", ["32", "35", "40"])
def test_it_rejects_days_32_to_40(day):
    assert code_of(nik(day=day)) == "nik-day"


@pytest.mark.parametrize("day", ["72", "80", "99"])
def test_it_rejects_day_over_71(day):
    with pytest.raises(InvalidInput) as exc:
        parse_nik(nik(day=day), today=TODAY)
    assert exc.value.code == "nik-day"
    assert day in exc.value.message


@pytest.mark.parametrize("month", ["00", "13", "99"])
def test_it_rejects_month_00_and_over_12(month):
    assert code_of(nik(month=month)) == "nik-month"


def test_it_rejects_31_april_and_states_the_date():
    with pytest.raises(InvalidInput) as exc:
        parse_nik(nik(day="31", month="04", yy="85"), today=TODAY)
    assert exc.value.code == "nik-date"
    assert "31 April 1985" in exc.value.message


def test_it_rejects_a_woman_born_on_31_november():
    assert code_of(nik(day="71", month="11")) == "nik-date"


def test_it_rejects_29_february_in_a_non_leap_year():
    with pytest.raises(InvalidInput) as exc:
        parse_nik(nik(day="29", month="02", yy="23"), today=TODAY)
    assert exc.value.code == "nik-date"
    assert "29 February 2023" in exc.value.message


def test_it_accepts_29_february_in_a_leap_year():
    info = parse_nik(nik(day="69", month="02", yy="96"), today=TODAY)
    assert info.birth_date == date(1996, 2, 29)


def test_it_accepts_29_february_2000():
    info = parse_nik(nik(day="29", month="02", yy="00"), today=TODAY)
    assert info.birth_date == date(2000, 2, 29)


def test_it_rejects_29_february_when_the_century_makes_it_1900():
    # In 1999 a NIK ...290200... can only mean 1900, which was not a leap year.
    assert code_of(nik(day="29", month="02", yy="00"), today=date(1999, 12, 31)) == "nik-date"


def test_it_rejects_serial_0000():
    assert code_of(nik(serial="0000")) == "nik-serial"


def test_it_checks_length_before_anything_else():
    assert code_of("00000") == "nik-length"


def test_it_reports_the_day_before_the_month():
    assert code_of(nik(day="00", month="00")) == "nik-day"


# --- matching entered data ----------------------------------------------------------------------


def test_it_accepts_a_nik_matching_sex_and_birth_date():
    info = check_nik_matches(nik(day="45"), sex=Sex.F, birth_date=date(1990, 8, 5))
    assert info.birth_date == date(1990, 8, 5)


def test_it_refuses_a_womans_nik_entered_as_male():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(day="45"), sex=Sex.M, birth_date=date(1990, 8, 5))
    assert exc.value.code == "nik-sex-mismatch"
    assert exc.value.message == "NIK encodes a woman (day+40) but sex M was entered."


def test_it_refuses_a_mans_nik_entered_as_female():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(day="05"), sex=Sex.F, birth_date=date(1990, 8, 5))
    assert exc.value.code == "nik-sex-mismatch"
    assert "a man" in exc.value.message


def test_it_refuses_a_different_birth_date_and_names_both_dates():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(), sex=Sex.M, birth_date=date(1990, 8, 6))
    assert exc.value.code == "nik-birthdate-mismatch"
    assert "5 August 1990" in exc.value.message
    assert "6 August 1990" in exc.value.message


def test_it_takes_the_century_from_the_entered_birth_date():
    # A 2-digit year is ambiguous; the entered birth date supplies the century.
    info = check_nik_matches(nik(yy="24"), sex=Sex.M, birth_date=date(1924, 8, 5))
    assert info.birth_date == date(1924, 8, 5)


def test_it_accepts_a_centenarian_whose_year_would_otherwise_be_read_as_recent():
    info = check_nik_matches(nik(yy="20"), sex=Sex.M, birth_date=date(1920, 8, 5))
    assert info.birth_date == date(1920, 8, 5)


def test_it_refuses_a_birth_date_in_a_different_year():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(yy="90"), sex=Sex.M, birth_date=date(1991, 8, 5))
    assert exc.value.code == "nik-birthdate-mismatch"


def test_matching_checks_29_february_in_the_entered_century():
    # ...290200... is a real date in 2000 but not in 1900.
    assert check_nik_matches(nik(day="29", month="02", yy="00"), sex=Sex.M,
                             birth_date=date(2000, 2, 29)).birth_date == date(2000, 2, 29)
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(day="29", month="02", yy="00"), sex=Sex.M,
                          birth_date=date(1900, 3, 1))
    assert exc.value.code == "nik-date"


def test_matching_still_applies_the_structural_rules():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(serial="0000"), sex=Sex.M, birth_date=date(1990, 8, 5))
    assert exc.value.code == "nik-serial"


def test_matching_reports_sex_before_birth_date():
    with pytest.raises(InvalidInput) as exc:
        check_nik_matches(nik(day="45"), sex=Sex.M, birth_date=date(1991, 1, 1))
    assert exc.value.code == "nik-sex-mismatch"


def test_matching_accepts_sex_given_as_a_plain_string():
    assert check_nik_matches(nik(), sex="M", birth_date=date(1990, 8, 5)).sex is Sex.M
