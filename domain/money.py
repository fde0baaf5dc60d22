"""Exact money: Decimal only, ISO 4217 minor units, EN 16931 half-up rounding."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

from domain.errors import PayloadError

__all__ = ["ZERO", "to_decimal", "minor_units", "amount_places", "round_amount", "from_minor", "check_currency", "q4",
           "NOT_CURRENCIES", "MAX_MAGNITUDE"]

ZERO = Decimal("0")
_Q4 = Decimal("0.0001")
#: no platform value we take is this large (amounts, quantities, prices); larger is a refused, not a rounded, value
MAX_MAGNITUDE = Decimal(10) ** 15

#: ISO 4217 codes that are not money an invoice can be issued in
NOT_CURRENCIES = {
    "XXX": "ISO 4217's code for 'no currency'",
    "XTS": "ISO 4217's code reserved for testing",
    "XAU": "gold (a precious metal, not a currency)",
    "XAG": "silver (a precious metal, not a currency)",
    "XPD": "palladium (a precious metal, not a currency)",
    "XPT": "platinum (a precious metal, not a currency)",
    "XBA": "a European bond-market unit of account",
    "XBB": "a European bond-market unit of account",
    "XBC": "a European bond-market unit of account",
    "XBD": "a European bond-market unit of account",
    "XDR": "the IMF's special drawing right (an accounting unit)",
    "XSU": "the Sucre (an accounting unit of ALBA)",
    "XUA": "the ADB unit of account",
}


@lru_cache(maxsize=512)
def check_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code.

    Raises:
        PayloadError: not an ISO 4217 currency.
    """
    up = (code or "").strip().upper() if isinstance(code, str) else ""
    if up in NOT_CURRENCIES:
        raise PayloadError(f"currency {up} is {NOT_CURRENCIES[up]}, not money an invoice can be issued in")
    try:
        Currency(up)
    except ValueError:
        raise PayloadError(f"currency {str(code)[:40]!r} is not an ISO 4217 currency code") from None
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
        raise PayloadError(f"{field} {value!r} is a binary floating-point number, not an exact decimal")
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise PayloadError(f"{field} {str(value)[:40]!r} is not a number") from None
    elif value is None:
        raise PayloadError(f"{field} missing")
    else:
        raise PayloadError(f"{field} {str(value)[:40]!r} is not a number")
    if not result.is_finite():
        raise PayloadError(f"{field} {str(value)[:40]!r} is not a finite number")
    if abs(result) >= MAX_MAGNITUDE:
        raise PayloadError(f"{field} {str(value)[:40]} is implausibly large")
    return result


def from_minor(value: object, currency: str, field: str = "amount") -> Decimal:
    """Integer minor units (Stripe's 1999 for EUR) to a Decimal (19.99)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{field}: {value!r} is not an integer amount in minor units")
    return Decimal(value).scaleb(-minor_units(currency))
