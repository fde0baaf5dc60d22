"""Tax rules (EU VAT categories, US sales tax) and payment terms, as unit tests."""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ConfigError
from domain.tax import TaxDecision, TaxError, TaxTable, determine_tax
from domain.terms import parse_terms

D = Decimal
TABLE = TaxTable.from_mapping({"vat_rates": {"DE": "19", "FR": "20"},
                               "us_state_rates": {"CA": "7.25", "TX": "6.25", "NY": "4"}})


def tax(**kw: object) -> TaxDecision:
    kw.setdefault("buyer_vat_id", None)
    return determine_tax(table=TABLE, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- EU VAT

def test_domestic_sale_standard_rate() -> None:
    assert tax(seller_country="DE", buyer_country="DE") == TaxDecision("S", D("19"))
    assert tax(seller_country="FR", buyer_country="FR", buyer_vat_id="FR40303265045") == TaxDecision("S", D("20"))


def test_an_unknown_buyer_country_is_never_taxed_as_domestic() -> None:
    for seller in ("DE", "US"):
        with pytest.raises(TaxError, match="buyer country unknown"):
            tax(seller_country=seller, buyer_country="")


def test_a_us_buyer_of_a_german_seller_is_export() -> None:
    d = tax(seller_country="DE", buyer_country="US", buyer_region="TX")
    assert (d.category, d.rate, d.exemption_code) == ("G", D(0), "VATEX-EU-G")


def test_intra_eu_goods_to_vat_registered_buyer_is_k() -> None:
    d = tax(seller_country="DE", buyer_country="FR", buyer_vat_id="FR40303265045")
    assert (d.category, d.rate, d.exemption_code) == ("K", D(0), "VATEX-EU-IC")
    assert d.exemption_reason == "Intra-Community supply"


def test_intra_eu_services_to_vat_registered_buyer_is_reverse_charge() -> None:
    d = tax(seller_country="DE", buyer_country="NL", buyer_vat_id="NL123456789B01", is_service=True)
    assert (d.category, d.rate, d.exemption_code, d.exemption_reason) == ("AE", D(0), "VATEX-EU-AE", "Reverse charge")


def test_intra_eu_without_vat_id_is_taxed_like_a_domestic_sale() -> None:
    assert tax(seller_country="DE", buyer_country="FR") == TaxDecision("S", D("19"))
    assert tax(seller_country="DE", buyer_country="FR", product_rate=D("7")) == TaxDecision("S", D("7"))


@pytest.mark.parametrize("buyer", ["NO", "CH", "US", "GB", "JP"])
def test_export_outside_the_eu_is_g(buyer: str) -> None:
    d = tax(seller_country="DE", buyer_country=buyer, buyer_vat_id="X123")
    assert (d.category, d.rate, d.exemption_code) == ("G", D(0), "VATEX-EU-G")
    assert tax(seller_country="FR", buyer_country=buyer, is_service=False).category == "G"


def test_product_reduced_rate_and_categories() -> None:
    assert tax(seller_country="DE", buyer_country="DE", product_category="S", product_rate=D("7")) == TaxDecision("S", D("7"))
    assert tax(seller_country="DE", buyer_country="DE", product_category="Z", product_rate=D("0")) == TaxDecision("Z", D(0))
    e = tax(seller_country="DE", buyer_country="DE", product_category="E")
    assert (e.category, e.rate, e.exemption_code) == ("E", D(0), "VATEX-EU-132")
    # a reduced-rate product sold intra-EU to a VAT-registered buyer is still K
    assert tax(seller_country="DE", buyer_country="FR", buyer_vat_id="FR1", product_category="S",
               product_rate=D("7")).category == "K"


def test_eu_seller_country_missing_from_table_uses_the_builtin_rate() -> None:
    assert tax(seller_country="AT", buyer_country="AT").rate == D("20")


# ---------------------------------------------------------------- EU One-Stop Shop

def test_oss_goods_to_consumers_elsewhere_in_the_eu_carry_the_destination_rate() -> None:
    assert tax(seller_country="DE", buyer_country="FR", seller_oss=True) == TaxDecision("S", D("20"))
    assert tax(seller_country="DE", buyer_country="IT", seller_oss=True) == TaxDecision("S", D("22"))  # built-in rate
    # the One-Stop Shop changes nothing else
    assert tax(seller_country="DE", buyer_country="DE", seller_oss=True) == TaxDecision("S", D("19"))
    assert tax(seller_country="DE", buyer_country="FR", buyer_vat_id="FR40303265045", seller_oss=True).category == "K"
    assert tax(seller_country="DE", buyer_country="FR", is_service=True, seller_oss=True) == TaxDecision("S", D("19"))
    assert tax(seller_country="DE", buyer_country="NO", seller_oss=True).category == "G"
    assert tax(seller_country="US", buyer_country="US", buyer_region="CA", seller_oss=True) == TaxDecision("S", D("7.25"))


def test_oss_products_with_their_own_rate_need_the_destination_rate() -> None:
    book = {"product_category": "S", "product_rate": D("7"), "product_rates": {"FR": D("5.5"), "IE": D("0")},
            "product": "BOOK-1", "seller_oss": True}
    assert tax(seller_country="DE", buyer_country="FR", **book) == TaxDecision("S", D("5.5"))
    assert tax(seller_country="DE", buyer_country="IE", **book) == TaxDecision("Z", D(0))
    assert tax(seller_country="DE", buyer_country="DE", **book) == TaxDecision("S", D("7")), "at home: its own rate"
    with pytest.raises(TaxError, match="product BOOK-1 .* consumer in AT needs its AT rate in the product's tax_rates"):
        tax(seller_country="DE", buyer_country="AT", **book)


# ---------------------------------------------------------------- US sales tax

@pytest.mark.parametrize(("state", "rate"), [("CA", "7.25"), ("TX", "6.25"), ("NY", "4"), ("tx", "6.25")])
def test_us_state_rates(state: str, rate: str) -> None:
    assert tax(seller_country="US", buyer_country="US", buyer_region=state) == TaxDecision("S", D(rate))


def test_us_state_without_a_rate_charges_no_tax() -> None:
    assert tax(seller_country="US", buyer_country="US", buyer_region="OR").rate == 0


def test_us_resale_certificate_is_exempt() -> None:
    d = tax(seller_country="US", buyer_country="US", buyer_region="CA", resale_certificate=True)
    assert (d.category, d.rate) == ("E", D(0))
    assert d.exemption_reason and "resale certificate" in d.exemption_reason


def test_us_seller_abroad_is_export() -> None:
    assert tax(seller_country="US", buyer_country="CA", buyer_region="ON").category == "G"


def test_other_sellers_use_the_stated_rate_or_o() -> None:
    assert tax(seller_country="CH", buyer_country="CH", stated_rate=D("8.1")) == TaxDecision("S", D("8.1"))
    d = tax(seller_country="CH", buyer_country="CH")
    assert (d.category, d.exemption_code) == ("O", "VATEX-EU-O")


def test_tax_table_from_mapping_overrides_defaults() -> None:
    t = TaxTable.from_mapping({"vat_rates": {"de": "16"}, "us_state_rates": {"wa": 6.5}})
    assert t.vat_rates["DE"] == D("16") and t.vat_rates["FR"] == D("20")
    assert t.us_state_rates["WA"] == D("6.5") and isinstance(t.us_state_rates["WA"], Decimal)


# ---------------------------------------------------------------- payment terms

@pytest.mark.parametrize(("code", "issued", "due", "text"), [
    ("NET15", date(2026, 1, 20), date(2026, 2, 4), "Net 15 days"),
    ("NET30", date(2026, 1, 31), date(2026, 3, 2), "Net 30 days"),
    ("NET30", date(2028, 1, 31), date(2028, 3, 1), "Net 30 days"),        # leap year
    ("NET60", date(2026, 12, 15), date(2027, 2, 13), "Net 60 days"),      # year end
    ("EOM", date(2026, 2, 10), date(2026, 2, 28), "Due at the end of the month"),
    ("EOM", date(2028, 2, 10), date(2028, 2, 29), "Due at the end of the month"),
    ("EOM", date(2026, 12, 31), date(2026, 12, 31), "Due at the end of the month"),
    ("EOM30", date(2026, 1, 15), date(2026, 3, 2), "Due 30 days after the end of the month"),
    ("EOM30", date(2028, 1, 15), date(2028, 3, 1), "Due 30 days after the end of the month"),
    ("EOM30", date(2026, 12, 1), date(2027, 1, 30), "Due 30 days after the end of the month"),
    ("DUE", date(2026, 5, 5), date(2026, 5, 5), "Due on receipt"),
])
def test_terms_due_dates_and_text(code: str, issued: date, due: date, text: str) -> None:
    terms = parse_terms(code)
    assert terms.due_date(issued) == due
    assert terms.text(issued) == text


@pytest.mark.parametrize(("issued", "due", "until"), [
    (date(2026, 2, 25), date(2026, 3, 27), date(2026, 3, 7)),
    (date(2028, 2, 25), date(2028, 3, 26), date(2028, 3, 6)),   # leap year: Feb 29 counts
    (date(2026, 12, 28), date(2027, 1, 27), date(2027, 1, 7)),
])
def test_early_payment_discount(issued: date, due: date, until: date) -> None:
    terms = parse_terms("2/10-NET30")
    assert (terms.discount_percent, terms.discount_days, terms.net_days) == (D("2"), 10, 30)
    assert terms.due_date(issued) == due
    assert terms.text(issued) == f"Net 30 days; 2% early-payment discount if paid by {until.isoformat()}"
    assert parse_terms("2.5/10-NET30").text(issued).endswith(f"2.5% early-payment discount if paid by {until.isoformat()}")


def test_terms_codes_are_normalised_and_defaulted() -> None:
    assert parse_terms(" net 30 ").code == "NET30"
    assert parse_terms(None).code == "NET30"
    assert parse_terms("", default="NET15").code == "NET15"


@pytest.mark.parametrize("code", ["NET", "30 DAYS", "2/10", "EOM-30", "NET-5", "2/10-"])
def test_unknown_terms_are_refused(code: str) -> None:
    with pytest.raises(ConfigError):
        parse_terms(code)


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2020, 1, 1), date(2040, 12, 31)), st.integers(0, 120))
def test_terms_properties(issued: date, n: int) -> None:
    assert parse_terms(f"NET{n}").due_date(issued) == issued + timedelta(days=n)
    last = date(issued.year, issued.month, calendar.monthrange(issued.year, issued.month)[1])
    assert parse_terms("EOM").due_date(issued) == last
    assert parse_terms(f"EOM{n}").due_date(issued) == last + timedelta(days=n)
    assert parse_terms(f"3/{min(n, 30)}-NET{n}").due_date(issued) == issued + timedelta(days=n)
