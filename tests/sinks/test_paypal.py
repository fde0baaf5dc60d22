"""PayPal sink against the PayPal stand-in (spec-validated): exact strings, draft→send, number guard.

OAuth refresh and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvoiceRejected
from sinks.delivery import deliver
from domain.settings import platform_settings
from sinks.paypal import PayPalSettings, PayPalSink, to_paypal
from tests.fakes.targets import paypal as fake_paypal
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = PayPalSink


def make_sink() -> PayPalSink:
    return sink_under_test(SINK)


async def test_body_is_exact_and_sent(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(51, targets=("paypal",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["status"] == "SENT" and fake.sends == [doc["id"]]
    d = doc["detail"]
    assert d["invoice_number"] == inv["number"] and d["currency_code"] == inv["currency"]
    assert d["invoice_date"] == inv["issue_date"].isoformat() and d["payment_term"]["due_date"] == inv["due_date"].isoformat()
    assert Decimal(doc["amount"]["value"]) == inv["total"]
    assert Decimal(doc["amount"]["breakdown"]["tax_total"]["value"]) == inv["tax_total"]
    assert Decimal(doc["amount"]["breakdown"]["item_total"]["value"]) == inv["tax_exclusive_total"]
    for it in doc["items"]:
        assert isinstance(it["unit_amount"]["value"], str) and isinstance(it["quantity"], str)
    assert doc["primary_recipients"][0]["billing_info"]["email_address"] == inv["buyer"]["email"]


async def test_draft_left_by_a_crash_is_sent_not_duplicated(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(52, targets=("paypal",))
    sink = make_sink()
    try:
        r = await sink._call("POST", "/v2/invoicing/invoices", "create", to_paypal(inv, sink.settings))
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "ALREADY_PRESENT" and result.external_id == r.json()["id"]
    assert len(fake.created) == 1 and fake.sends == [r.json()["id"]]


async def test_lost_create_response_resolved_by_number(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(53, targets=("paypal",))
    sink = make_sink()
    try:
        first = await sink.create_invoice(inv, inv["invoice_id"])
        again = await sink.create_invoice(inv, inv["invoice_id"])  # DUPLICATE_INVOICE_NUMBER → it is ours
        with pytest.raises(InvoiceRejected, match="DUPLICATE_INVOICE_NUMBER"):
            await sink.create_invoice(dict(inv, invoice_id="someone-else"), "someone-else")
    finally:
        await sink.close()
    assert first.external_id == again.external_id and len(fake.created) == 1 and len(fake.sends) == 1


async def test_total_mismatch_deletes_the_draft_and_parks(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(54, targets=("paypal",))
    inv["tax_total"] += Decimal("0.01")
    inv["total"] += Decimal("0.01")
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable and "draft deleted" in (result.detail or "")
    assert not fake.created and not fake.sends


async def test_schema_violation_is_rejected_with_paypals_details(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(55, targets=("paypal",))
    sink = make_sink()
    try:
        body = to_paypal(inv, sink.settings)
        body["items"][0]["unit_amount"]["value"] = 12.5  # a number where the spec wants a string
        with pytest.raises(InvoiceRejected, match="INVALID_REQUEST.*INVALID_PARAMETER_SYNTAX"):
            await sink._call("POST", "/v2/invoicing/invoices", "create", body)
    finally:
        await sink.close()


async def test_vat_reaches_paypal_as_item_tax_in_paypals_arithmetic(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(13, targets=("paypal",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    doc = fake.created[result.external_id or ""]
    assert [it["tax"] for it in doc["items"]] == [{"name": "VAT", "percent": "19"}] * len(inv["lines"])
    assert not any(it["name"].startswith("VAT") for it in doc["items"]), "no VAT item booked as revenue"
    assert (fake.booked[doc["id"]].tax, fake.booked[doc["id"]].total) == (inv["tax_total"], inv["total"])


async def test_us_sales_tax_and_zero_rated_items_are_named_for_what_they_are(fake: fake_paypal.PayPalFake) -> None:
    us, eu = sample_invoice(5, targets=("paypal",)), sample_invoice(2, targets=("paypal",))
    for inv in (us, eu):
        assert (await deliver_once(make_sink(), inv)).status == "DELIVERED"
    names = {it["tax"]["name"] for d in fake.created.values() for it in d["items"]}
    assert names == {"Sales Tax", "VAT (K)", "VAT (AE)"}


async def test_per_item_rounding_that_misses_our_tax_is_refused_before_anything_is_created(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(4, targets=("paypal",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "S 19 %: 0.06 per item, 0.07 on the group" in (result.detail or "")
    assert not [r for r in fake.requests if r.path == "/v2/invoicing/invoices"], "nothing created"


async def test_invoice_numbers_up_to_127_characters_are_created_and_found_by_memo(fake: fake_paypal.PayPalFake) -> None:
    inv = dict(sample_invoice(56, targets=("paypal",)), number="INV-" + "7" * 123)
    sink = make_sink()
    try:
        first = await deliver(sink, inv, sink.pipeline)
        again = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert (first.status, again.status, again.external_id) == ("DELIVERED", "ALREADY_PRESENT", first.external_id)
    searches = [r.json() for r in fake.requests if r.path == "/v2/invoicing/search-invoices"]
    assert searches and all(s == {"memo": f"invoice_id {inv['invoice_id']}"} for s in searches)
    too_long = dict(inv, number="INV-" + "7" * 124)
    with pytest.raises(InvoiceRejected, match="longer than 127"):
        to_paypal(too_long, platform_settings("paypal", PayPalSettings))
