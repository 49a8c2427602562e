"""Billing codes (kode billing): 15 digits, paid within 2 hours at a bank or post office.

The real code comes from the treasury's system (SIMPONI). Offices that must issue one while the
central is down use a local series: 14 digits then a Luhn check digit, so a mistyped code at the
cashier is caught before it is looked up."""

from __future__ import annotations

import secrets

from kanim.domain.errors import InvalidInput

LENGTH = 15


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # positions that get doubled, counting from the check digit's left
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def new_billing_code(prefix: str = "8") -> str:
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(LENGTH - 1 - len(prefix)))
    return body + luhn_digit(body)


def check_billing_code(code: str) -> str:
    code = code.strip()
    if len(code) != LENGTH or not (code.isascii() and code.isdigit()):
        raise InvalidInput(f"a billing code has exactly {LENGTH} digits", code="billing-code-format")
    if luhn_digit(code[:-1]) != code[-1]:
        raise InvalidInput(f"billing code {code} has a wrong check digit (mistyped?)",
                           code="billing-code-check-digit")
    return code
