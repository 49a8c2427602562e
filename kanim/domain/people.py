"""Small facts about people that several domain modules share."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from kanim.domain.errors import InvalidInput


class Sex(StrEnum):
    """Sex as recorded on the KTP (identity card) and in the NIK, and printed in the MRZ.

    Indonesian civil registration records only male and female, so there is no third value;
    the MRZ writes `<` when no sex is given (see `kanim.domain.mrz`).
    """

    M = "M"
    F = "F"


OLDEST_AGE = 130  # older than anyone recorded alive: a birth date before it is a typing error


def check_birth_date(birth_date: date, *, today: date) -> None:
    """A birth date is not after the office's today and not more than 130 years before it."""
    if birth_date > today:
        raise InvalidInput(
            f"the birth date {birth_date.isoformat()} is after today ({today.isoformat()})",
            code="birth-date-future")
    years = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    if years > OLDEST_AGE:
        raise InvalidInput(
            f"the birth date {birth_date.isoformat()} makes the applicant {years} years old; "
            f"the limit is {OLDEST_AGE}", code="birth-date-too-old")


def check_travel_date(travel_date: date | None, *, today: date) -> None:
    """A planned travel date (it raises the drain priority) is today or later."""
    if travel_date is not None and travel_date < today:
        raise InvalidInput(
            f"the travel date {travel_date.isoformat()} is before today ({today.isoformat()})",
            code="travel-date-past")
