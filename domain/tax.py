"""Tax determination: EU VAT categories (EN 16931 / UNCL5305) and US sales tax.

The rules, in order, for one line sold by *seller* to *buyer*:

* Seller in the EU
  * buyer country unknown: refused (`TaxError`), never taxed as domestic;
  * buyer in the same country: standard rate of the seller's country, category ``S``
    (a product may carry its own category and rate, e.g. reduced ``S`` 7 % or ``Z``);
  * buyer in another EU country **with** a VAT id: intra-community supply, ``K`` 0 %
    (``VATEX-EU-IC``); for services, reverse charge ``AE`` 0 % (``VATEX-EU-AE``);
  * buyer in another EU country without a VAT id (B2C): seller's rate, ``S``; but goods sold
    by a seller registered for the EU One-Stop Shop (``seller_oss``, Art. 33 and 369a ff. of
    Directive 2006/112/EC, above the EUR 10,000 threshold) are taxed where they arrive: the
    destination country's rate, ``S`` (a product's own rate is its home-country rate, so such a
    product needs its rate for the destination in ``product_rates``, 0 meaning ``Z``, or the
    line is refused);
    services stay at the seller's rate (the general B2C rule, Art. 45);
  * buyer outside the EU: export, ``G`` 0 % (``VATEX-EU-G``).
* Seller in the US: outside the US, export ``G``; a buyer holding a resale
  certificate is exempt, ``E`` 0 %; otherwise sales tax at the ship-to state's rate,
  ``S`` (a state without a configured rate: ``O``, no sales tax collected).
* Anyone else: the rate the platform stated, ``S``; none stated: ``O`` (not subject to tax).

Rates are reference data (`TaxTable`); the defaults below are the EU standard rates of 2026.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

__all__ = ["EU_COUNTRIES", "EU_STANDARD_RATES", "TaxTable", "TaxDecision", "TaxError", "TaxKey", "determine_tax"]

#: an EN 16931 VAT category and rate as invoices carry them, e.g. ``("S", Decimal("19.0000"))``
TaxKey = tuple[str, Decimal]

EU_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)

EU_STANDARD_RATES: dict[str, Decimal] = {
    k: Decimal(v)
    for k, v in {
        "AT": "20", "BE": "21", "BG": "20", "HR": "25", "CY": "19", "CZ": "21", "DK": "25",
        "EE": "24", "FI": "25.5", "FR": "20", "DE": "19", "GR": "24", "HU": "27", "IE": "23",
        "IT": "22", "LV": "21", "LT": "21", "LU": "17", "MT": "18", "NL": "21", "PL": "23",
        "PT": "23", "RO": "21", "SK": "23", "SI": "22", "ES": "21", "SE": "25",
    }.items()
}


class TaxError(ValueError):
    """No rate can be decided from the reference data; the message says what to add."""


@dataclass(frozen=True)
class TaxDecision:
    category: str
    rate: Decimal
    exemption_reason: str | None = None
    exemption_code: str | None = None


@dataclass
class TaxTable:
    """Rates from reference data, with the EU defaults."""

    vat_rates: dict[str, Decimal] = field(default_factory=lambda: dict(EU_STANDARD_RATES))
    us_state_rates: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object] | None) -> "TaxTable":
        table = cls()
        if not data:
            return table
        for k, v in dict(data.get("vat_rates") or {}).items():  # type: ignore[call-overload]
            table.vat_rates[str(k).upper()] = Decimal(str(v))
        for k, v in dict(data.get("us_state_rates") or {}).items():  # type: ignore[call-overload]
            table.us_state_rates[str(k).upper()] = Decimal(str(v))
        return table


def determine_tax(
    *,
    seller_country: str,
    buyer_country: str,
    buyer_vat_id: str | None,
    buyer_region: str | None = None,
    resale_certificate: bool = False,
    product_category: str | None = None,
    product_rate: Decimal | None = None,
    is_service: bool = False,
    stated_rate: Decimal | None = None,
    table: TaxTable | None = None,
    seller_oss: bool = False,
    product_rates: Mapping[str, Decimal] | None = None,
    product: str | None = None,
) -> TaxDecision:
    """Decide the tax category and rate of one line. See the module docstring for the rules.

    Raises:
        TaxError: a One-Stop-Shop sale of a product with its own rate, and no rate of that
            product for the destination country in *product_rates*.
    """
    t = table or TaxTable()
    seller = (seller_country or "").upper()
    buyer = (buyer_country or "").upper()
    if not buyer and (seller in EU_COUNTRIES or seller == "US"):
        raise TaxError("buyer country unknown, so the tax cannot be decided (a buyer is never taxed as domestic "
                       "by default)")
    if seller in EU_COUNTRIES:
        if seller_oss and buyer != seller and buyer in EU_COUNTRIES and not buyer_vat_id and not is_service:
            return _destination_rate(buyer, t, product_category, product_rate, product_rates or {}, product)
        if buyer == seller or (buyer in EU_COUNTRIES and not buyer_vat_id):
            if product_category and product_category != "S":
                return TaxDecision(product_category, product_rate or Decimal(0),
                                   *_exemption(product_category))
            rate = product_rate if product_rate is not None else t.vat_rates.get(seller)
            if rate is None:
                rate = stated_rate if stated_rate is not None else Decimal(0)
            return TaxDecision("S", rate)
        if buyer in EU_COUNTRIES:
            if is_service:
                return TaxDecision("AE", Decimal(0), "Reverse charge", "VATEX-EU-AE")
            return TaxDecision("K", Decimal(0), "Intra-Community supply", "VATEX-EU-IC")
        return TaxDecision("G", Decimal(0), "Export outside the EU", "VATEX-EU-G")
    if seller == "US":
        if buyer != "US":
            return TaxDecision("G", Decimal(0), "Export", "VATEX-EU-G")
        if resale_certificate:
            # No VATEX code fits a US resale exemption (VATEX-EU-O is for category O only,
            # Peppol P0105); EN 16931 BR-E-10 accepts the reason text alone.
            return TaxDecision("E", Decimal(0), "Exempt: resale certificate on file", None)
        state = (buyer_region or "").upper()
        rate = t.us_state_rates.get(state, Decimal(0))
        if not rate:
            return TaxDecision("O", Decimal(0), f"No sales tax collected for {state or 'this state'}", "VATEX-EU-O")
        return TaxDecision("S", rate)
    if stated_rate is not None:
        return TaxDecision("S", stated_rate)
    return TaxDecision("O", Decimal(0), "Not subject to VAT", "VATEX-EU-O")


def _destination_rate(buyer: str, t: TaxTable, product_category: str | None, product_rate: Decimal | None,
                      product_rates: Mapping[str, Decimal], product: str | None) -> TaxDecision:
    """A One-Stop-Shop distance sale of goods: VAT of the country where the goods arrive."""
    if buyer in product_rates:
        rate = product_rates[buyer]
        return TaxDecision("S", rate) if rate else TaxDecision("Z", Decimal(0))
    if product_rate is not None or (product_category and product_category != "S"):
        raise TaxError(f"product {product or '(no SKU)'} has its own VAT treatment at home; a One-Stop-Shop sale "
                       f"to a consumer in {buyer} needs its {buyer} rate in the product's tax_rates")
    standard = t.vat_rates.get(buyer, EU_STANDARD_RATES.get(buyer))
    if standard is None:  # every EU country has a default rate: this cannot happen for buyer in EU_COUNTRIES
        raise TaxError(f"no VAT rate for {buyer} in the reference data's tax table")
    return TaxDecision("S", standard)


def _exemption(category: str) -> tuple[str | None, str | None]:
    return {
        "E": ("Exempt from tax", "VATEX-EU-132"),
        "Z": (None, None),
        "O": ("Not subject to VAT", "VATEX-EU-O"),
        "AE": ("Reverse charge", "VATEX-EU-AE"),
        "K": ("Intra-Community supply", "VATEX-EU-IC"),
        "G": ("Export outside the EU", "VATEX-EU-G"),
    }.get(category, (None, None))
