"""NIK (Nomor Induk Kependudukan): the 16-digit population number on every KTP (identity card).

Layout, left to right::

    PP RR DD ddmmyy SSSS
    |  |  |  |      +-- serial, 0001 upwards, among people of that district and birth date
    |  |  |  +--------- birth date; women add 40 to the day (a woman born on the 5th has 45)
    |  |  +------------ kecamatan (district) code
    |  +--------------- kabupaten/kota (regency/city) code
    +------------------ provinsi (province) code, 11 (Aceh) upwards

The NIK never changes when its holder moves, so the region codes say where it was issued, not
where the person lives now.

The year has only two digits. `parse_nik` picks the century that puts the birth date on or before
`today` (a NIK from 2010 and one from 1910 look the same; nobody applying for a passport was born
in the future, and a 100+-year-old applicant is far rarer than a child). `check_nik_matches`
instead takes the century from the birth date the applicant entered, because there the question
is only whether the two agree.

Surrounding whitespace is ignored (a NIK pasted with a trailing space is still that NIK);
anything else that is not a digit (spaces inside, dots, dashes) is rejected.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from kanim.domain.errors import InvalidInput
from kanim.domain.people import Sex

NIK_LENGTH = 16
FEMALE_DAY_OFFSET = 40  # women's NIKs carry day + 40
LOWEST_PROVINCE_CODE = 11  # Aceh; Indonesian province codes start at 11

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


@dataclass(frozen=True)
class NikInfo:
    """What a valid NIK says about its holder. Region codes are kept as 2-digit strings."""

    nik: str
    province: str
    regency: str
    district: str
    birth_date: date
    sex: Sex
    serial: str

    @property
    def region_code(self) -> str:
        """The 6-digit kode wilayah (province + regency + district), e.g. "317101"."""
        return self.province + self.regency + self.district


@dataclass(frozen=True)
class _Fields:
    """The NIK cut into its parts, structurally checked but with the year not yet resolved."""

    nik: str
    province: str
    regency: str
    district: str
    day: int  # real day of month (the +40 removed)
    month: int
    yy: int
    sex: Sex
    serial: str


def format_date(day: int, month: int, year: int) -> str:
    """"31 April 1985": unambiguous to staff, and usable for dates that do not exist."""
    return f"{day} {_MONTHS[month - 1]} {year}"


def _split(nik: str) -> _Fields:
    nik = nik.strip()
    if len(nik) != NIK_LENGTH:
        raise InvalidInput(
            f"A NIK has 16 digits; {len(nik)} characters were given.", code="nik-length"
        )
    # isdigit() alone accepts other scripts' digits (e.g. Arabic-Indic) and superscripts.
    if not (nik.isascii() and nik.isdigit()):
        raise InvalidInput("A NIK contains only the digits 0-9.", code="nik-not-digits")

    province = nik[0:2]
    if int(province) < LOWEST_PROVINCE_CODE:
        raise InvalidInput(
            f"NIK province code {province} does not exist; province codes start at 11.",
            code="nik-province",
        )

    raw_day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if 1 <= raw_day <= 31:
        sex, day = Sex.M, raw_day
    elif FEMALE_DAY_OFFSET + 1 <= raw_day <= FEMALE_DAY_OFFSET + 31:
        sex, day = Sex.F, raw_day - FEMALE_DAY_OFFSET
    else:
        raise InvalidInput(
            f"NIK day {nik[6:8]} is impossible: it must be 01-31 for men or 41-71 for women.",
            code="nik-day",
        )
    if not 1 <= month <= 12:
        raise InvalidInput(
            f"NIK month {nik[8:10]} is impossible: it must be 01-12.", code="nik-month"
        )

    return _Fields(
        nik=nik,
        province=province,
        regency=nik[2:4],
        district=nik[4:6],
        day=day,
        month=month,
        yy=yy,
        sex=sex,
        serial=nik[12:16],
    )


def _finish(f: _Fields, year: int) -> NikInfo:
    """Build the birth date in the chosen year, then check the serial."""
    if f.day > calendar.monthrange(year, f.month)[1]:
        raise InvalidInput(
            f"NIK encodes {format_date(f.day, f.month, year)}, which does not exist.",
            code="nik-date",
        )
    if f.serial == "0000":
        raise InvalidInput("NIK serial 0000 is impossible: serials start at 0001.",
                           code="nik-serial")
    return NikInfo(
        nik=f.nik,
        province=f.province,
        regency=f.regency,
        district=f.district,
        birth_date=date(year, f.month, f.day),
        sex=f.sex,
        serial=f.serial,
    )


def _year_not_after(f: _Fields, today: date) -> int:
    """The latest year ending in `yy` whose (month, day) is not after `today`.

    Compared as (year, month, day) tuples, not as dates, because 29 February may not exist in the
    candidate year; `_finish` reports that as nik-date with the year that was chosen.
    """
    year = today.year - (today.year - f.yy) % 100
    if (year, f.month, f.day) > (today.year, today.month, today.day):
        year -= 100
    return year


def parse_nik(nik: str, *, today: date | None = None) -> NikInfo:
    """Validate a NIK and decode it; raise `InvalidInput` with one code per broken rule.

    Codes, in the order they are checked: nik-length, nik-not-digits, nik-province, nik-day,
    nik-month, nik-date, nik-serial. The two-digit year is read as the most recent year that
    does not put the birth date after `today` (default: the current date).
    """
    f = _split(nik)
    return _finish(f, _year_not_after(f, today or date.today()))


def check_nik_matches(nik: str, *, sex: Sex, birth_date: date) -> NikInfo:
    """Parse `nik` and check that it agrees with the sex and birth date the applicant entered.

    The NIK's two-digit year takes its century from `birth_date`, so a 1925 birth date and a NIK
    ending ...25 agree. Raises the `parse_nik` codes, then nik-sex-mismatch, then
    nik-birthdate-mismatch.
    """
    f = _split(nik)
    info = _finish(f, birth_date.year - birth_date.year % 100 + f.yy)
    if info.sex != sex:
        encoded = "a woman (day+40)" if info.sex is Sex.F else "a man (day 01-31)"
        raise InvalidInput(
            f"NIK encodes {encoded} but sex {Sex(sex).value} was entered.",
            code="nik-sex-mismatch",
        )
    if info.birth_date != birth_date:
        b = info.birth_date
        raise InvalidInput(
            f"NIK encodes birth date {format_date(b.day, b.month, b.year)} but "
            f"{format_date(birth_date.day, birth_date.month, birth_date.year)} was entered.",
            code="nik-birthdate-mismatch",
        )
    return info
