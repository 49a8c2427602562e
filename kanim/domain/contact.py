"""How an applicant is told about their application: a preferred channel and the contact it
needs. The addresses themselves are parsed and normalised at the office's edge
(`kanim.office.contact`, with the `phonenumbers` and `email-validator` libraries); the rule that
ties a channel to its contact is here."""

from __future__ import annotations

from enum import StrEnum

from kanim.domain.errors import InvalidInput


class Channel(StrEnum):
    """Where the office writes to an applicant (the notification channels)."""

    WHATSAPP = "whatsapp"  # a mobile number with WhatsApp
    SMS = "sms"  # a mobile number
    EMAIL = "email"  # an email address
    # A chat with the office's Telegram bot, whose id kanim learns when the applicant opens the
    # bot's link and presses Start (kanim/office/telegram.py). Until then the booking's phone
    # number carries its messages (WhatsApp, then SMS), so Telegram needs one too.
    TELEGRAM = "telegram"

    @property
    def needs_phone(self) -> bool:
        return self is not Channel.EMAIL

    @property
    def for_subscribers(self) -> bool:
        """The status page's subscribers give an address in the form; a Telegram chat is only
        learnt from a booking's link."""
        return self is not Channel.TELEGRAM


def check_channel(channel: Channel | None, *, phone: str | None, email: str | None) -> None:
    """A preferred channel must have its contact: a phone number for WhatsApp and SMS (and for
    Telegram, whose messages go to the phone, WhatsApp then SMS, until the applicant starts the
    office's bot), an email address for email. No channel is fine (a walk-in may leave none)."""
    if channel is None:
        return
    channel = Channel(channel)
    if channel.needs_phone and not phone:
        raise InvalidInput(f"the preferred channel {channel.value} needs a phone number (contact_phone)",
                           code="contact-missing", channel=channel.value, needs="contact_phone")
    if channel is Channel.EMAIL and not email:
        raise InvalidInput("the preferred channel email needs an email address (contact_email)",
                           code="contact-missing", channel=channel.value, needs="contact_email")


def masked(address: str | None) -> str:
    """+62812•••••890, s•••@example.com, Telegram ••••••789: staff tell two contacts apart
    without reading them."""
    if not address:
        return "–"
    if address.isdigit():  # a Telegram chat id: its digits say nothing a reader needs
        return "Telegram " + "•" * max(len(address) - 3, 1) + address[-3:]
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return address[:6] + "•" * max(len(address) - 9, 1) + address[-3:]
