"""Exact money: Decimal only, ISO 4217 minor units, EN 16931 half-up rounding."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

from invoicing.errors import PayloadError

__all__ = ["ZERO", "to_decimal", "minor_units", "amount_places", "round_amount", "from_minor", "check_currency", "q4"]

ZERO = Decimal("0")
_Q4 = Decimal("0.0001")


@lru_cache(maxsize=512)
def check_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code.

    Raises:
        PayloadError: not an ISO 4217 currency.
    """
    up = (code or "").strip().upper()
    try:
        Currency(up)
    except ValueError:
        raise PayloadError(f"unknown currency {code!r}") from None
    return up


@lru_cache(maxsize=512)
def minor_units(code: str) -> int:
    """ISO 4217 minor units (JPY 0, EUR 2, KWD 3)."""
    exp = Currency(check_currency(code)).exponent
    return int(exp) if exp is not None else 2


@lru_cache(maxsize=512)
def amount_places(code: str) -> Decimal:
    """Quantum for invoice amounts: the currency's minor units, at most 2 (EN 16931 BR-DEC rules)."""
    return Decimal(1).scaleb(-min(minor_units(code), 2))


def round_amount(value: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's invoice precision."""
    return value.quantize(amount_places(currency), rounding=ROUND_HALF_UP)


def q4(value: Decimal) -> Decimal:
    """Round half-up to 4 places (unit prices, quantities, rates)."""
    return value.quantize(_Q4, rounding=ROUND_HALF_UP)


def to_decimal(value: object, field: str = "amount") -> Decimal:
    """Exact Decimal from a platform value: strings and ints only, never floats.

    Raises:
        PayloadError: a float, a non-number or a non-finite number.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise PayloadError(f"{field}: {value!r} is not an exact decimal")
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise PayloadError(f"{field}: {value!r} is not a number") from None
    elif value is None:
        raise PayloadError(f"{field}: missing")
    else:
        raise PayloadError(f"{field}: {value!r} is not a number")
    if not result.is_finite():
        raise PayloadError(f"{field}: {value!r} is not finite")
    return result


def from_minor(value: object, currency: str, field: str = "amount") -> Decimal:
    """Integer minor units (Stripe's 1999 for EUR) to a Decimal (19.99)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{field}: {value!r} is not an integer amount in minor units")
    return Decimal(value).scaleb(-minor_units(currency))
