"""Xero sink against the Xero stand-in: exact body, idempotency, one shared OAuth token per tenant, tax types
per (category, rate), line tax amounts, credit notes allocated to the invoice.

OAuth refresh before expiry and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.xero import XeroSink, to_xero_credit_note
from tests.fakes.targets import xero as fake_xero
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = XeroSink


def make_sink() -> XeroSink:
    return sink_under_test(SINK)


async def test_body_is_exact_and_idempotent(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(21, targets=("xero",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["InvoiceNumber"] == inv["number"] and doc["Type"] == "ACCREC" and doc["Status"] == "AUTHORISED"
    assert doc["CurrencyCode"] == inv["currency"] and doc["LineAmountTypes"] == "Exclusive"
    assert (doc["Date"], doc["DueDate"]) == (inv["issue_date"].isoformat(), inv["due_date"].isoformat())
    assert Decimal(doc["SubTotal"]) == inv["tax_exclusive_total"]
    assert Decimal(doc["TotalTax"]) == inv["tax_total"]
    assert Decimal(doc["Total"]) == inv["total"]
    for ours, theirs in zip(inv["lines"], doc["LineItems"]):
        assert Decimal(theirs["LineAmount"]) == ours["net_amount"]
        assert Decimal(theirs["Quantity"]) == ours["quantity"] and Decimal(theirs["UnitAmount"]) == ours["unit_price"]
    put = next(r for r in fake.requests if r.method == "PUT")
    assert put.headers["idempotency-key"] == inv["invoice_id"]
    assert put.headers["xero-tenant-id"] == fake_xero.TENANT
    assert b'"UnitAmount": 6890.0000' in put.body, "exact JSON number literal, never a float or a string"
    assert b'"LineAmount": "' not in put.body


async def test_idempotency_key_replays_the_first_invoice(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(22, targets=("xero",))
    sink = make_sink()
    try:
        a = await sink.create_invoice(inv, inv["invoice_id"])
        b = await sink.create_invoice(inv, inv["invoice_id"])  # a retry after a lost response
    finally:
        await sink.close()
    assert a == b and len(fake.created) == 1


async def test_validation_error_is_rejected_with_xeros_message(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(23, targets=("xero",))
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="Invoice # must be unique"):
            await sink.create_invoice(inv, "another-invoice-id-same-number")
    finally:
        await sink.close()


async def test_token_refreshed_on_401_and_shared(fake: fake_xero.XeroFake) -> None:
    sink, other = make_sink(), make_sink()
    try:
        await deliver(sink, sample_invoice(24, targets=("xero",)), sink.pipeline)
        await deliver(other, sample_invoice(25, targets=("xero",)), other.pipeline)
        assert fake.tokens.issued == 1, "one token per tenant, shared by every sink"
        fake.tokens.revoke()
        result = await deliver(sink, sample_invoice(26, targets=("xero",)), sink.pipeline)
    finally:
        await sink.close()
        await other.close()
    assert result.status == "DELIVERED" and result.attempts == 1
    assert fake.tokens.issued == 2


async def test_tax_types_come_from_the_mapping_per_category_and_rate_never_a_default(
        fake: fake_xero.XeroFake, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = sample_invoice(27, targets=("xero",))
    await deliver_once(make_sink(), inv)
    put = next(r for r in fake.requests if r.method == "PUT")
    sent = json.loads(put.body, parse_float=Decimal)["Invoices"][0]["LineItems"]
    assert {li["TaxType"] for li in sent} == {fake_xero.TAX_MAP["S:19"]}
    monkeypatch.setenv("INVOICING_XERO_TAX_TYPES", json.dumps({k: v for k, v in fake_xero.TAX_MAP.items() if k != "S:19"}))
    sink = make_sink()
    try:
        assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000"))}) == [
            'INVOICING_XERO_TAX_TYPES has no entry "S:19" (the Xero TaxType of that sales tax)']
        with pytest.raises(InvoiceRejected, match='INVOICING_XERO_TAX_TYPES has no entry "S:19"'):
            await sink.create_invoice(sample_invoice(7, targets=("xero",)), "k-7")
    finally:
        await sink.close()
    assert len(fake.created) == 1, "nothing sent with a guessed TaxType"


async def test_line_tax_amounts_are_our_group_tax_where_xero_rounds_per_line(fake: fake_xero.XeroFake) -> None:
    """Three lines of 0.13 at 19 %: Xero's per-line rounding books 3 × 0.02; the group's tax is 0.07."""
    inv = sample_invoice(4, targets=("xero",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    result = await deliver_once(make_sink(), inv)
    sent = json.loads(next(r for r in fake.requests if r.method == "PUT").body, parse_float=Decimal)
    shares = [li["TaxAmount"] for li in sent["Invoices"][0]["LineItems"]]
    assert sorted(shares) == [Decimal("0.02"), Decimal("0.02"), Decimal("0.03")] and sum(shares) == inv["tax_total"]
    per_line = sum((li["LineAmount"] * fake_xero.TAX_TYPES[li["TaxType"]] / 100).quantize(Decimal("0.01"))
                   for li in sent["Invoices"][0]["LineItems"])
    assert per_line == Decimal("0.06") != inv["tax_total"], "without TaxAmount Xero would book a cent less"
    assert fake.booked[str(result.external_id)].tax == inv["tax_total"] == Decimal("0.07")


async def test_credit_note_created_before_a_crash_is_reused_and_allocated_once(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(22, targets=("xero",))
    note = sample_invoice(22, targets=("xero",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = (await deliver(sink, inv, sink.pipeline)).external_id
        # Xero accepted the credit note, the worker died before allocating it
        await sink._put("/CreditNotes", {"CreditNotes": [to_xero_credit_note(note, sink.settings)]}, note["invoice_id"], "crash")
        assert await sink.find_credit_note(note, note["invoice_id"]) is None, "not delivered until allocated"
        result = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (result.status, again.status) == ("DELIVERED", "ALREADY_PRESENT")
    (stored,) = fake.credit_notes.values()
    assert stored["CreditNoteID"] == result.external_id == again.external_id
    assert [a["Invoice"]["InvoiceID"] for a in stored["Allocations"]] == [invoice_id]
    assert fake.created[str(invoice_id)]["AmountDue"] == 0
    assert stored["Reference"] == inv["number"]


async def test_allocation_is_capped_at_what_the_invoice_still_owes(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(25, targets=("xero",))
    note = sample_invoice(25, targets=("xero",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = str((await deliver(sink, inv, sink.pipeline)).external_id)
        fake.created[invoice_id]["AmountDue"] = Decimal("1000.00")  # the customer paid the rest
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    (stored,) = fake.credit_notes.values()
    assert result.status == "DELIVERED"
    assert [a["Amount"] for a in stored["Allocations"]] == [Decimal("1000.00")]
    assert stored["RemainingCredit"] == note["total"] - Decimal("1000.00")
