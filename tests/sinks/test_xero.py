"""Xero sink against the Xero stand-in: exact body, idempotency, one shared OAuth token per tenant.

OAuth refresh before expiry and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.xero import XeroSink
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
