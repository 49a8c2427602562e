"""Small facts about people that several domain modules share."""

from __future__ import annotations

from enum import StrEnum


class Sex(StrEnum):
    """Sex as recorded on the KTP (identity card) and in the NIK, and printed in the MRZ.

    Indonesian civil registration records only male and female, so there is no third value;
    the MRZ writes `<` when no sex is given (see `kanim.domain.mrz`).
    """

    M = "M"
    F = "F"


class Channel(StrEnum):
    """How an applicant wants to hear from the office (booking confirmations, pickup)."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
