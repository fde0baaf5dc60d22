"""QuickBooks sink against the QuickBooks stand-in: exact body, requestid replay, DocNumber, tax codes per
(category, rate) in the global and the US model, credit memos applied to the invoice by a Payment.

OAuth refresh and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.quickbooks import QuickBooksSink, request_id, to_quickbooks
from tests.fakes.targets import quickbooks as fake_qbo
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = QuickBooksSink


def make_sink() -> QuickBooksSink:
    return sink_under_test(SINK)


async def test_body_is_exact(fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(31, targets=("quickbooks",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["DocNumber"] == inv["number"] and doc["CurrencyRef"] == {"value": inv["currency"]}
    assert doc["TxnDate"] == inv["issue_date"].isoformat() and doc["DueDate"] == inv["due_date"].isoformat()
    assert sum(Decimal(ln["Amount"]) for ln in doc["Line"]) == inv["tax_exclusive_total"]
    assert Decimal(doc["TxnTaxDetail"]["TotalTax"]) == inv["tax_total"]
    assert Decimal(doc["TotalAmt"]) == inv["total"]
    assert doc["CustomerRef"]["value"] in fake.customers
    post = next(r for r in fake.requests if r.path.endswith("/invoice"))
    assert post.query["requestid"] == inv["invoice_id"] and post.query["minorversion"] == "75"


async def test_repeated_requestid_returns_the_original(fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(32, targets=("quickbooks",))
    sink = make_sink()
    try:
        a = await sink.create_invoice(inv, inv["invoice_id"])
        b = await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert a == b and len(fake.created) == 1 and len(fake.customers) == 1


async def test_duplicate_number_and_long_number_are_rejected(fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(33, targets=("quickbooks",))
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="Duplicate Document Number Error.*code 6140"):
            await sink.create_invoice(inv, "other-id")
        with pytest.raises(InvoiceRejected, match="longer than 21"):
            await sink.create_invoice(dict(inv, number="INV-2026-000000000033X"), "third-id")
    finally:
        await sink.close()


def test_long_keys_are_hashed_to_50_chars() -> None:
    assert request_id("k" * 80) == request_id("k" * 80) and len(request_id("k" * 80)) == 50
    assert request_id("short") == "short"


async def test_cash_sale_becomes_a_sales_receipt(fake: fake_qbo.QuickBooksFake) -> None:
    """An invoice paid in full when issued (a cash sale) is a SalesReceipt, found again by its number."""
    inv = sample_invoice(32, targets=("quickbooks",))
    paid = dict(inv, prepaid=inv["total"], amount_due=Decimal(0))
    sink = make_sink()
    try:
        first = await deliver(sink, paid, sink.pipeline)
        again = await deliver(sink, paid, sink.pipeline)
    finally:
        await sink.close()
    assert (first.status, again.status) == ("DELIVERED", "ALREADY_PRESENT"), first.detail
    (doc,) = fake.created.values()
    assert doc["_entity"] == "SalesReceipt" and "DueDate" not in doc and "Balance" not in doc
    assert doc["DocNumber"] == inv["number"] and Decimal(doc["TotalAmt"]) == inv["total"]
    assert any(r.path.endswith("/salesreceipt") for r in fake.requests)


def _posted(fake: fake_qbo.QuickBooksFake, resource: str) -> list[dict[str, Any]]:
    return [json.loads(r.body, parse_float=Decimal) for r in fake.requests
            if r.method == "POST" and r.path.endswith(f"/{resource}")]


async def test_tax_codes_and_tax_lines_come_from_the_mapping_never_a_default(
        fake: fake_qbo.QuickBooksFake, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = sample_invoice(34, targets=("quickbooks",))
    result = await deliver_once(make_sink(), inv)
    (body,) = _posted(fake, "invoice")
    assert {ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in body["Line"]} == {fake_qbo.TAX_CODE_MAP["S:19"]}
    (tax_line,) = body["TxnTaxDetail"]["TaxLine"]
    assert tax_line["TaxLineDetail"]["TaxRateRef"] == {"value": fake_qbo.TAX_RATE_MAP["S:19"]}
    assert (tax_line["Amount"], tax_line["TaxLineDetail"]["NetAmountTaxable"]) == (inv["tax_total"], inv["tax_exclusive_total"])
    assert fake.booked[str(result.external_id)].tax == inv["tax_total"]
    monkeypatch.setenv("INVOICING_QUICKBOOKS_TAX_CODES", json.dumps({k: v for k, v in fake_qbo.TAX_CODE_MAP.items() if k != "S:19"}))
    monkeypatch.setenv("INVOICING_QUICKBOOKS_TAX_RATES", "{}")
    sink = make_sink()
    try:
        assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000"))}) == [
            'INVOICING_QUICKBOOKS_TAX_CODES has no entry "S:19" (the QuickBooks TaxCode id of that sales tax)',
            'INVOICING_QUICKBOOKS_TAX_RATES has no entry "S:19" (the QuickBooks TaxRate id of that rate)']
        with pytest.raises(InvoiceRejected, match='INVOICING_QUICKBOOKS_TAX_CODES has no entry "S:19"'):
            await sink.create_invoice(sample_invoice(7, targets=("quickbooks",)), "k-7")
    finally:
        await sink.close()
    assert len(_posted(fake, "invoice")) == 1, "nothing sent with a guessed tax code"


async def test_credit_memo_is_applied_to_the_invoice_by_a_zero_payment_linking_both(fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(35, targets=("quickbooks",))
    note = sample_invoice(35, targets=("quickbooks",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = (await deliver(sink, inv, sink.pipeline)).external_id
        first = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (first.status, again.status) == ("DELIVERED", "ALREADY_PRESENT") and first.external_id == again.external_id
    (memo,) = _posted(fake, "creditmemo")
    assert memo["DocNumber"] == note["number"] and "DueDate" not in memo
    (payment,) = _posted(fake, "payment")
    assert payment["TotalAmt"] == 0 and payment["CustomerRef"] == memo["CustomerRef"]
    assert [(ln["Amount"], ln["LinkedTxn"]) for ln in payment["Line"]] == [
        (note["total"], [{"TxnId": invoice_id, "TxnType": "Invoice"}]),
        (note["total"], [{"TxnId": first.external_id, "TxnType": "CreditMemo"}])]
    assert fake.created[str(invoice_id)]["Balance"] == 0 and fake.created[str(first.external_id)]["RemainingCredit"] == 0
    payment_rid = next(r.query["requestid"] for r in fake.requests if r.path.endswith("/payment"))
    assert payment_rid == request_id(note["invoice_id"], "pay-")


async def test_credit_memo_created_before_a_crash_is_reused_and_applied_once(fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(36, targets=("quickbooks",))
    note = sample_invoice(36, targets=("quickbooks",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        await deliver(sink, inv, sink.pipeline)
        body = to_quickbooks(note, await sink._customer(note), sink.settings)
        await sink._post("creditmemo", body, "crashed-before-applying")  # QuickBooks took it; the worker died
        assert await sink.find_credit_note(note, note["invoice_id"]) is None, "not delivered until applied"
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED"
    assert len(_posted(fake, "creditmemo")) == 1 and len(_posted(fake, "payment")) == 1
    assert fake.booked[str(result.external_id)].linked_to is not None


async def test_us_company_books_sales_tax_with_its_tax_code_and_TAX_NON_lines(serve: Any) -> None:
    fake = serve(fake_qbo.make_fake(us=True))
    inv = sample_invoice(5, targets=("quickbooks",))
    sink = make_sink()
    try:
        result = await deliver(sink, inv, sink.pipeline)
        gaps = sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("E", Decimal("0.0000"))})
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    (body,) = _posted(fake, "invoice")
    assert {ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in body["Line"]} == {"TAX"}
    assert body["TxnTaxDetail"] == {"TotalTax": inv["tax_total"], "TxnTaxCodeRef": {"value": "16"}}
    assert fake.booked[str(result.external_id)].tax == inv["tax_total"] == Decimal("1446.56")
    assert gaps == ['INVOICING_QUICKBOOKS_TAX_CODES has no entry "S:19" (the QuickBooks TaxCode id of that sales tax)']
