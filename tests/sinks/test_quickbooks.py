"""QuickBooks sink against the QuickBooks stand-in: exact body, requestid replay, DocNumber.

OAuth refresh and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.quickbooks import QuickBooksSink, request_id
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
