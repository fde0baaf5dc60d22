"""The gate before the number (`domain.gate`): one test per rule, each a draft missing one thing.

Every refusal names the field and the value in a clerk's words and says what to do; no exception
class names. The drafts are the demo's own (built as the bill agent builds them), then broken
in exactly one place. The pipeline-level outcomes (parked, no number spent, consecutive numbers,
replay after the fix) are in tests/streams/test_gate_pipeline.py.
"""
from __future__ import annotations

import copy
import json
import random
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import pytest

from domain.billing import build_draft
from domain.errors import PayloadError
from domain.gate import DraftRefused, check_draft, clean_text, refuse_if_invalid
from domain.money import check_currency, to_decimal
from domain.reasons import plain_reason
from domain.reference import Customer
from demo.samples import shopify as shop
from demo.samples.invoices import demo_reference, sample_invoice
from domain.settings import PlatformSettings
from pydantic import SecretStr

D = Decimal
TODAY = date(2026, 11, 24)


def draft(n: int = 7) -> dict[str, Any]:
    inv = sample_invoice(n)
    assert check_draft(inv, reference_date=TODAY) == [], "the demo's invoices pass the gate"
    return copy.deepcopy(inv)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        *head, last = path.split(".")
        target: Any = d
        for part in head:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return apply


def _lines(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        d["lines"][1].update(changes)
    return apply


#: rule → (sample n, how to break its draft, words the reason must contain)
RULES: dict[str, tuple[int, Callable[[dict[str, Any]], None], list[str]]] = {
    "buyer name": (7, _set("buyer.name", ""), ["buyer name missing", "reference data"]),
    "buyer address": (7, _set("buyer.address", {"line1": "", "line2": None, "city": "", "postal_code": "", "region": None,
                                                "country": ""}), ["buyer address missing", "external_ids"]),
    "buyer country": (7, _set("buyer.address.country", ""), ["buyer address lacks country"]),
    "buyer country code": (7, _set("buyer.address.country", "XY"), ["buyer country 'XY' is not an ISO 3166"]),
    "buyer postal code": (7, _set("buyer.address.postal_code", ""), ["buyer address lacks postal code"]),
    "seller address": (7, _set("seller.address.city", ""), ["seller address lacks city", "seller kompressor-de"]),
    "seller name": (7, _set("seller.name", ""), ["seller name missing"]),
    "seller VAT id (S)": (7, lambda d: d["seller"].update(vat_id=None, tax_registration=None),
                          ["seller VAT id or tax registration missing", "BR-S-02"]),
    "seller VAT id (K)": (1, _set("seller.vat_id", None), ["seller VAT id missing", "intra-EU supply", "BR-K-02"]),
    "buyer VAT id (K)": (1, _set("buyer.vat_id", None), ["buyer VAT id missing", "BR-K-02"]),
    "buyer VAT id (AE)": (2, _set("buyer.vat_id", None), ["buyer VAT id missing", "reverse charge", "BR-AE-02"]),
    "K between two EU countries": (1, _set("buyer.address.country", "DE"), ["two different EU countries",
                                                                            "buyer DE"]),
    "G outside the EU": (3, _set("buyer.address.country", "AT"), ["export", "outside the seller's country and the EU"]),
    "no lines": (7, lambda d: d.update(lines=[]), ["no lines"]),
    "zero quantity": (7, _lines(quantity=D("0.0000")), ["line 2", "quantity 0 is not above zero"]),
    "negative quantity": (7, _lines(quantity=D("-3.0000")), ["line 2", "quantity -3", "credit note"]),
    "zero price": (7, _lines(unit_price=D("0.0000")), ["line 2", "unit price 0 is not above zero"]),
    "negative price": (7, _lines(unit_price=D("-5.0000")), ["unit price -5"]),
    "discount larger than the line": (7, _lines(allowance=D("99999.0000"), net_amount=D("-1000.00")),
                                      ["discount 99999", "larger than the line"]),
    "total not above zero": (7, lambda d: d.update(total=D("0.00")), ["total 0.00 is not the sum"]),
    "currency XXX": (7, _set("currency", "XXX"), ["currency XXX", "no currency"]),
    "currency XTS": (7, _set("currency", "XTS"), ["currency XTS", "testing"]),
    "currency gold": (7, _set("currency", "XAU"), ["currency XAU", "gold"]),
    "supply date 9999": (7, _set("supply_date", date(9999, 12, 31)), ["supply date 9999-12-31 is outside"]),
    "supply date 1900": (7, _set("supply_date", date(1900, 1, 1)), ["supply date 1900-01-01"]),
    "supply date 0001": (7, _set("supply_date", date(1, 1, 1)), ["supply date 0001-01-01"]),
    "tax group off by a cent": (7, lambda d: d["tax_breakdown"][0].update(tax_amount=d["tax_breakdown"][0]["tax_amount"]
                                                                         + D("0.01")), ["VAT group S 19%"]),
    "line total off": (7, lambda d: d.update(line_total=d["line_total"] + D("1")), ["line total", "sum of its parts"]),
    "amount due off": (7, lambda d: d.update(amount_due=d["amount_due"] - D("0.01")), ["amount due"]),
    "O naming a VAT id": (6, lambda d: [ln.update(tax_category="O") for ln in d["lines"]] and None
                          or d["tax_breakdown"][0].update(category="O") or d["buyer"].update(vat_id="US1"),
                          ["BR-O-02"]),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_refuses_a_draft_missing_one_thing(rule: str) -> None:
    n, breaks, words = RULES[rule]
    d = draft(n)
    breaks(d)
    with pytest.raises(DraftRefused) as refusal:
        refuse_if_invalid(d, reference_date=TODAY)
    reason = str(refusal.value)
    assert reason.startswith(f"invoice for customer {d['customer_id']} (shopify order "), reason
    for w in words:
        assert w in reason, (w, reason)
    assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b|<class", reason), reason
    assert refusal.value.problems and all(p.field for p in refusal.value.problems)


def test_every_demo_invoice_passes_and_nothing_else_is_flagged() -> None:
    for n in range(1, 40):
        assert check_draft(sample_invoice(n), reference_date=TODAY) == []
        assert check_draft(sample_invoice(n, document_type="CREDIT_NOTE"), reference_date=TODAY) == []


def test_a_buyer_without_a_country_is_refused_before_any_tax_is_decided() -> None:
    """Tax never guesses: an unknown buyer (no reference data) without a country is not taxed as domestic."""
    ref = demo_reference()
    inv = sample_invoice(7)
    order = {"platform": "shopify", "event_id": "e1", "event_type": "orders/paid", "trigger": "PAYMENT_RECEIVED",
             "order_key": "shopify:1", "external_order_id": "1", "order_number": "#1", "occurred_at": inv["issued_at"],
             "received_at": inv["issued_at"], "currency": "USD", "tax_included": False, "shipping": D(0),
             "amount_paid": None, "purchase_order": None,
             "lines": [{"sku": "KS-SC-15", "description": "x", "quantity": D(1), "unit_price": D("100"), "discount": D(0),
                        "tax_rate": None}]}
    buyer = Customer(customer_id="shopify:777", name="US Fab Co", address={"line1": "1 Main St", "city": "Houston",
                     "postal_code": "77002", "country": ""}, known=False)
    order["customer"] = {"name": buyer.name, "email": None, "vat_id": None, "address": buyer.address}
    with pytest.raises(DraftRefused, match="buyer address lacks country.*shopify:777"):
        build_draft([order], customer=buyer, seller=ref.sellers["kompressor-de"], reference=ref,
                    trigger="PAYMENT_RECEIVED", targets=["folder"])
    us = Customer(customer_id="shopify:777", name="US Fab Co", address={"line1": "1 Main St", "city": "Houston",
                  "postal_code": "77002", "region": "TX", "country": "US"}, known=False)
    order["customer"] = {"name": us.name, "email": None, "vat_id": None, "address": us.address}
    export = build_draft([order], customer=us, seller=ref.sellers["kompressor-de"], reference=ref,
                         trigger="PAYMENT_RECEIVED", targets=["folder"])
    assert [(g["category"], g["tax_amount"]) for g in export["tax_breakdown"]] == [("G", D("0.00"))]


def test_text_xml_and_the_pdf_cannot_carry_is_cleaned() -> None:
    assert clean_text("Acme\x07 GmbH\x00\x1b") == "Acme GmbH"
    assert clean_text("Line\ud800one\ufffe") == "Line one"
    assert clean_text("  Kühn e.K. ") == "Kühn e.K."
    assert clean_text(None) is None


@pytest.mark.parametrize("code,words", [("XXX", "no currency"), ("XTS", "testing"), ("XAU", "gold"),
                                        ("XDR", "special drawing right"), ("ABC", "not an ISO 4217")])
def test_currencies_that_are_not_money_are_refused_at_the_door(code: str, words: str) -> None:
    with pytest.raises(PayloadError, match=words):
        check_currency(code)
    assert check_currency("xof") == "XOF", "the CFA franc is real money"


def test_numbers_too_large_or_not_numbers_are_named_in_words() -> None:
    with pytest.raises(PayloadError, match=r"quantity 1E\+30 is implausibly large"):
        to_decimal("1E+30", "quantity")
    with pytest.raises(PayloadError, match="price 'NaN' is not a finite number"):
        to_decimal("NaN", "price")


def test_unanticipated_failures_are_reasons_a_clerk_can_read() -> None:
    """A shape the reader did not expect (text where Shopify sends an object) is worded from the failing line
    of the platform's reader: the field, the kind of value found, no Python class names."""
    from sources.shopify import Shopify

    doc = json.loads(json.dumps(shop.shopify_payload(4, random.Random(4))))
    doc["billing_address"] = "Hamburg"
    raw = {"platform": "shopify", "event_type": "orders/fulfilled", "event_id": "e-42", "received_at": datetime.now(timezone.utc),
           "headers": {"x-shopify-topic": "orders/fulfilled"}, "body": json.dumps(doc).encode()}
    try:
        Shopify(PlatformSettings(secret=SecretStr("s"))).normalise(raw)
    except Exception as exc:  # noqa: BLE001 - whatever the reader raises is worded
        reason = plain_reason(exc, what="the shopify message shopify:42")
    else:
        raise AssertionError("a billing address given as text was read")
    # the value found and the line of the reader that expected an object (where its address is read)
    assert "shopify:42" in reason and "text ('Hamburg')" in reason and 'bill.get("company")' in reason, reason
    assert not re.search(r"Error|Exception|<class|'str' object", reason), reason
