"""An applicant's contact: phone numbers in E.164, email addresses checked, and a preferred
channel that has its contact."""

from __future__ import annotations

import pytest

from kanim.domain.contact import Channel, check_channel
from kanim.domain.errors import InvalidInput
from kanim.office.contact import contact, normalise_email, normalise_phone


@pytest.mark.parametrize("written", ["0812-3456-7890", "0812 3456 7890", "+62 812 3456 7890", "6281234567890",
                                     "+6281234567890", "(0812) 34567890"])
def test_an_indonesian_number_is_stored_in_e164(written: str) -> None:
    assert normalise_phone(written) == "+6281234567890"


def test_a_foreign_number_keeps_its_country() -> None:
    assert normalise_phone("+61 412 345 678") == "+61412345678"


@pytest.mark.parametrize("bad", ["abc", "12", "0812", "+62 000 0000", "+999 1234 5678"])
def test_a_phone_that_is_not_a_number_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise_phone(bad)
    assert e.value.code == "contact-phone" and e.value.extra["field"] == "contact_phone"


def test_an_email_address_is_checked_and_its_domain_lower_cased() -> None:
    assert normalise_email("Siti.R@Example.CO.ID") == "Siti.R@example.co.id"
    for bad in ["not-an-email", "siti@", "@example.com", "siti@example", "siti rahma@example.com"]:
        with pytest.raises(InvalidInput) as e:
            normalise_email(bad)
        assert e.value.code == "contact-email", bad


def test_the_channels_are_whatsapp_sms_email_and_telegram() -> None:
    assert [c.value for c in Channel] == ["whatsapp", "sms", "email", "telegram"]


@pytest.mark.parametrize(("channel", "phone", "email", "needs"), [
    (Channel.WHATSAPP, None, "siti@example.co.id", "contact_phone"),
    (Channel.SMS, None, None, "contact_phone"),
    (Channel.TELEGRAM, None, "siti@example.co.id", "contact_phone"),  # its messages go there until Start
    (Channel.EMAIL, "+6281234567890", None, "contact_email"),
])
def test_a_preferred_channel_without_its_contact_is_refused(channel: Channel, phone: str | None,
                                                            email: str | None, needs: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_channel(channel, phone=phone, email=email)
    assert e.value.code == "contact-missing" and e.value.extra["needs"] == needs


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        contact(phone="0812 3456 7890", email=None, channel="pigeon")
    assert e.value.code == "contact-channel"


def test_whatsapp_and_sms_need_a_mobile_number() -> None:
    with pytest.raises(InvalidInput) as e:
        contact(phone="021 5551234", email=None, channel="sms")  # a Jakarta landline
    assert e.value.code == "contact-phone-not-mobile"
    assert contact(phone="021 5551234", email=None, channel=None).phone == "+62215551234"


def test_a_contact_is_normalised_as_a_whole() -> None:
    c = contact(phone=" 0812-3456-7890 ", email="Siti@Example.com", channel="whatsapp")
    assert (c.phone, c.email, c.channel) == ("+6281234567890", "Siti@example.com", Channel.WHATSAPP)
    assert contact(phone="", email="  ", channel=None) == type(c)()
