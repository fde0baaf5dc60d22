"""Epicor sink against the REST v2 stand-in: the function contract, OData look-up, Epicor's error body."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.epicor import EpicorSink
from tests.fakes.target_base import Booked
from tests.fakes.targets.epicor import API_KEY, PASSWORD, EpicorFake, epicor_error
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test, deliver_invoice_and_note


SINK = EpicorSink


def make_sink() -> EpicorSink:
    return sink_under_test(SINK)


async def test_function_input_contract_is_exact(fake: EpicorFake) -> None:
    inv = sample_invoice(9, targets=("epicor",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.path == "/api/v2/efx/EPIC06/InvoicingPipeline/CreateARInvoice" and post.headers["x-api-key"] == API_KEY
    body = json.loads(post.body, parse_float=Decimal)
    assert (body["LegalNumber"], body["CustID"], body["CurrencyCode"]) == (inv["number"], "C-1001", "EUR")
    assert (body["InvoiceDate"], body["DueDate"], body["GroupID"]) == ("2026-11-24", "2026-12-24", "IP261124")
    assert body["DocInvoiceAmt"] == inv["total"] and body["DocTaxAmt"] == inv["tax_total"]
    assert [(ln["LineDesc"], ln["SellingShipQty"], ln["DocUnitPrice"], ln["DocExtPrice"])
            for ln in body["Lines"]] == [(ln["description"], ln["quantity"], ln["unit_price"], ln["net_amount"])
                                         for ln in inv["lines"]]
    taxes = [t for ln in body["Lines"] for t in ln["TaxLines"]]
    assert {(t["TaxCode"], t["RateCode"], t["Percent"]) for t in taxes} == {("VAT", "STD", Decimal("19.0000"))}
    assert [t["DocTaxableAmt"] for t in taxes] == [ln["net_amount"] for ln in inv["lines"]]
    assert sum(t["DocTaxAmt"] for t in taxes) == inv["tax_total"]  # per-line shares of the group's tax
    find = next(r for r in fake.requests if r.method == "GET")
    assert find.query["$filter"] == f"LegalNumber eq '{inv['number']}' and CreditMemo eq false"


async def test_business_errors_are_parked_with_epicors_message(fake: EpicorFake) -> None:
    inv = sample_invoice(9, targets=("epicor",))
    inv["customer_id"] = "C-9999"
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "Ice.BLException: Customer C-9999 is not valid." in (result.detail or "")


async def test_duplicate_legal_number_is_refused_by_the_function(fake: EpicorFake) -> None:
    inv = sample_invoice(9, targets=("epicor",))
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="Legal Number .* already exists"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert len(fake.created) == 1


async def test_auth_errors_never_show_the_api_key_or_password(fake: EpicorFake) -> None:
    inv = sample_invoice(9, targets=("epicor",))
    fake.fail(401, body=epicor_error(401, f"Invalid API Key {API_KEY} for user integration:{PASSWORD}").body)
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert API_KEY not in str(err.value) and PASSWORD not in str(err.value) and "***" in str(err.value)


async def test_throttling_is_retriable_with_retry_after(fake: EpicorFake) -> None:
    inv = sample_invoice(9, targets=("epicor",))
    fake.fail(429, retry_after=2)
    with pytest.raises(RetriableSinkError) as err:
        await find_once(make_sink(), inv)
    assert err.value.retry_after == 2 and "ThrottlingException" in str(err.value)


async def test_credit_memo_goes_through_its_function_against_epicors_invoice_number(fake: EpicorFake) -> None:
    inv = sample_invoice(4, targets=("epicor",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    note = sample_invoice(4, targets=("epicor",), lines=[("KS-FLT-01", "1", "0.13")] * 3, document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    post = [r for r in fake.requests if r.method == "POST"][-1]
    assert post.path == "/api/v2/efx/EPIC06/InvoicingPipeline/CreateARCreditMemo"
    body = json.loads(post.body, parse_float=Decimal)
    assert body["ApplyToInvoiceNum"] == int(first.external_id) and body["LegalNumber"] == note["number"]
    assert [t["DocTaxAmt"] for ln in body["Lines"] for t in ln["TaxLines"]] == [Decimal("0.03"), Decimal("0.02"),
                                                                             Decimal("0.02")]  # 0.07, not 3 x 0.02
    assert fake.booked[credited.external_id] == Booked("credit_note", note["total"], Decimal("0.07"), first.external_id)


async def test_an_unmapped_tax_is_named_and_nothing_is_sent(fake: EpicorFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_EPICOR_TAX_RATES", '{"S:19": "VAT/STD", "K:0": "VAT"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000")), ("AE", Decimal("0.0000"))}) == [
        'INVOICING_EPICOR_TAX_RATES has no entry "AE:0" (Epicor\'s "<TaxCode>/<RateCode>")',
        'INVOICING_EPICOR_TAX_RATES has no entry "K:0" (Epicor\'s "<TaxCode>/<RateCode>")']
    result = await deliver_once(sink, sample_invoice(2, targets=("epicor",)))
    assert result.status == "PARKED" and 'no entry "K:0"' in (result.detail or "")
    assert not [r for r in fake.requests if r.method == "POST"]
