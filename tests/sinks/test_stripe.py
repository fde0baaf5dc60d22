"""Stripe sink against the Stripe stand-in: minor units, per-step idempotency keys, resume.

The secret key kept out of errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.stripe import StripeSink, invoice_params, item_params
from tests.fakes.targets import stripe as fake_stripe
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = StripeSink


def make_sink() -> StripeSink:
    return sink_under_test(SINK)


async def test_body_in_minor_units_finalized_and_sent(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(41, targets=("stripe",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["status"] == "open" and fake.sent == [doc["id"]] and doc["metadata"]["sent"] == "true"
    assert doc["number"] == inv["number"] and doc["metadata"]["invoice_id"] == inv["invoice_id"]
    assert doc["currency"] == inv["currency"].lower() and doc["collection_method"] == "send_invoice"
    assert doc["total"] == int(inv["total"] * 100)
    lines = [i for i in doc["lines"]["data"] if i["metadata"]["kind"] == "line"]
    taxes = [i for i in doc["lines"]["data"] if i["metadata"]["kind"] == "tax"]
    assert [Decimal(i["amount"]) / 100 for i in lines] == [ln["net_amount"] for ln in inv["lines"]]
    assert sum(i["amount"] for i in taxes) == int(inv["tax_total"] * 100)
    keys = [r.headers.get("idempotency-key") for r in fake.requests if r.method == "POST"]
    assert all(k and k.startswith(inv["invoice_id"] + ":") for k in keys) and len(set(keys)) == len(keys)
    assert result.external_id == doc["id"]


async def test_crash_mid_way_resumes_the_draft(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(42, targets=("stripe",))
    sink = make_sink()
    try:
        customer = await sink._customer(inv, inv["invoice_id"])
        draft = await sink._call("POST", "/v1/invoices", "create", data=invoice_params(inv, customer),
                                 key=f"{inv['invoice_id']}:invoice")
        line_id, params = item_params(inv)[0]
        await sink._call("POST", "/v1/invoiceitems", "item", key="some-other-key-from-a-lost-run",
                         data={**params, "invoice": draft["id"], "customer": customer, "currency": inv["currency"].lower()})
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None, "a draft is not a delivered invoice"
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED" and result.external_id == draft["id"]
    assert len(fake.created) == 1 and len(fake.customers) == 1
    assert fake.created[draft["id"]]["total"] == int(inv["total"] * 100), "the line already there was not added twice"


async def test_rejection_carries_stripes_message(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(43, targets=("stripe",))
    other = dict(inv, invoice_id="inv_other_same_number")
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="Invoice number must be unique"):
            await sink.create_invoice(other, other["invoice_id"])
    finally:
        await sink.close()


def test_amount_finer_than_minor_units_is_refused() -> None:
    inv = sample_invoice(44, targets=("stripe",))
    inv["lines"][0]["net_amount"] = Decimal("10.005")
    with pytest.raises(InvoiceRejected, match="minor units"):
        item_params(inv)
