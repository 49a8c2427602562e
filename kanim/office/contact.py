"""An applicant's contact as the booking desk stores it: the phone number in E.164 (+62...),
the email address normalised, and a preferred channel that has its contact
(`kanim.domain.contact.check_channel`).

Parsing is left to the libraries that know the numbering plans and the address grammar:
`phonenumbers` (Google's libphonenumber metadata, so 0812-3456-7890 and +62 812 3456 7890 are
one number) and `email-validator`, with its DNS lookup switched off: an office may be offline,
and a booking must not wait on a resolver.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from kanim.domain.contact import Channel, check_channel
from kanim.domain.errors import InvalidInput

DEFAULT_REGION = "ID"  # a number written without +country is an Indonesian one (0812...)
_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True)
class Contact:
    phone: str | None = None  # E.164
    email: str | None = None
    channel: Channel | None = None


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """A phone number in E.164, or `InvalidInput` (contact-phone)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput("contact_phone is not a valid phone number (e.g. 0812 3456 7890 or +62 812 3456 7890)",
                           code="contact-phone", field="contact_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    return phonenumbers.number_type(phonenumbers.parse(e164)) in _MOBILE


def normalise_email(raw: str) -> str:
    """An email address as email-validator normalises it (domain in lower case), or
    `InvalidInput` (contact-email). Syntax only: no DNS lookup."""
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidInput(f"contact_email is not a valid email address: {e}", code="contact-email",
                           field="contact_email") from None


def contact(*, phone: str | None, email: str | None, channel: Channel | str | None) -> Contact:
    """Normalise a booking's contact; refuse a bad number or address, or a channel without its
    contact (contact-phone, contact-email, contact-missing, contact-phone-not-mobile)."""
    e164 = normalise_phone(phone) if phone and phone.strip() else None
    address = normalise_email(email) if email and email.strip() else None
    chosen = _channel(channel)
    check_channel(chosen, phone=e164, email=address)
    if chosen is not None and chosen.needs_phone and e164 and not is_mobile(e164):
        raise InvalidInput(f"the preferred channel {chosen.value} needs a mobile number; contact_phone is a "
                           "fixed line", code="contact-phone-not-mobile", field="contact_phone")
    return Contact(phone=e164, email=address, channel=chosen)


def _channel(value: Channel | str | None) -> Channel | None:
    if value is None or value == "":
        return None
    try:
        return Channel(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise InvalidInput(f"unknown preferred_channel {value!r}; one of {allowed}", code="contact-channel",
                           field="preferred_channel") from None
