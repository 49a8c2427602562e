"""Local billing codes (kanim/domain/billing.py): 15 digits, the last a Luhn check digit."""

from __future__ import annotations

import pytest

from kanim.domain.billing import LENGTH, check_billing_code, luhn_digit, new_billing_code
from kanim.domain.errors import InvalidInput


@pytest.mark.parametrize(("body", "digit"), [
    ("7992739871", "3"),  # the textbook example: 79927398713
    ("0", "0"),
    ("1", "8"),
    ("91", "9"),
    ("4111111111111111"[:-1], "1"),  # a well-known test card number
    ("00000000000000", "0"),
])
def test_the_check_digit_is_the_luhn_digit(body: str, digit: str) -> None:
    assert luhn_digit(body) == digit


def test_generated_codes_have_15_digits_and_pass_the_check() -> None:
    codes = {new_billing_code() for _ in range(500)}
    assert len(codes) > 490  # random, not a counter
    for code in codes:
        assert len(code) == LENGTH == 15 and code.isdigit()
        assert code.startswith("8")
        assert check_billing_code(code) == code


def test_a_generated_code_keeps_its_series_prefix() -> None:
    code = new_billing_code(prefix="8123")
    assert code.startswith("8123") and len(code) == 15
    assert check_billing_code(code) == code


def test_every_mistyped_digit_is_detected() -> None:
    for _ in range(50):
        code = new_billing_code()
        for i in range(LENGTH):
            for d in "0123456789":
                if d == code[i]:
                    continue
                typo = code[:i] + d + code[i + 1:]
                with pytest.raises(InvalidInput) as e:
                    check_billing_code(typo)
                assert e.value.code == "billing-code-check-digit"


def test_swapping_two_neighbouring_digits_is_detected() -> None:
    code = "81234567890123"
    code += luhn_digit(code)
    swapped = code[:1] + code[2] + code[1] + code[3:]  # 8 2 1 ... instead of 8 1 2 ...
    assert swapped != code
    with pytest.raises(InvalidInput) as e:
        check_billing_code(swapped)
    assert e.value.code == "billing-code-check-digit"


def test_surrounding_spaces_are_ignored() -> None:
    code = new_billing_code()
    assert check_billing_code(f"  {code}\n") == code


@pytest.mark.parametrize("code", ["", "81234567890123", "8123456789012345", "81234567890123A",
                                  "8123-4567-8901-2", " 8123456789012 "])
def test_a_code_that_is_not_15_digits_is_refused_as_a_format_error(code: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_billing_code(code)
    assert e.value.code == "billing-code-format"
    assert "15 digits" in str(e.value)


def test_a_code_in_fullwidth_digits_is_refused_as_a_format_error() -> None:
    body = "８１２３４５６７８９０１２３"  # what an IME in full-width mode types
    with pytest.raises(InvalidInput) as e:
        check_billing_code(body + luhn_digit(body))
    assert e.value.code == "billing-code-format"


def test_a_code_with_a_superscript_digit_is_refused_as_a_format_error() -> None:
    with pytest.raises(InvalidInput) as e:
        check_billing_code("8²2345678901234")
    assert e.value.code == "billing-code-format"
