"""Stripe sink against the Stripe stand-in: tax rates created once, tax as Stripe computes it, manual tax
amounts where per-line rounding would differ, credit notes on the invoice, per-step idempotency keys, resume.

The secret key kept out of errors: tests/sinks/test_common.py. Requests against stripe-python's
models: tests/sinks/test_stripe_spec.py."""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from domain.errors import InvoiceRejected
from sinks.delivery import deliver
from sinks.stripe import StripeSink, exact_groups, invoice_params, line_params
from tests.fakes.targets import stripe as fake_stripe
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = StripeSink
TRAP = [("KS-FLT-01", "1", "0.13")] * 3  # 19 % per line: 0.02 × 3 = 0.06; on the group: 0.07


def make_sink() -> StripeSink:
    return sink_under_test(SINK)


def posts(fake: fake_stripe.StripeFake, path: str) -> list[dict[str, Any]]:
    return [fake_stripe.tree(parse_qsl(r.body.decode())) for r in fake.requests
            if r.method == "POST" and r.path == path]


async def test_vat_reaches_stripe_as_a_tax_rate_on_every_line(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(9, targets=("stripe",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["status"] == "open" and fake.sent == [doc["id"]] and doc["metadata"]["sent"] == "true"
    assert doc["number"] == inv["number"] and doc["metadata"]["invoice_id"] == inv["invoice_id"]
    (rate,) = fake.tax_rates.values()
    assert (rate["percentage"], rate["inclusive"], rate["tax_type"], rate["display_name"]) == (19.0, False, "vat", "VAT")
    assert rate["metadata"] == {"invoicing_tax": "vat:S:19"}
    lines = doc["lines"]["data"]
    assert [Decimal(ln["amount"]) / 100 for ln in lines] == [ln["net_amount"] for ln in inv["lines"]]
    assert all(ln["tax_rates"] == {"0": rate["id"]} for ln in lines), "every line carries the tax rate"
    assert not any("VAT" in (ln["description"] or "") for ln in lines), "no VAT line booked as revenue"
    assert sum(t["amount"] for t in doc["total_taxes"]) == int(inv["tax_total"] * 100)
    assert doc["total"] == int(inv["total"] * 100) and result.external_id == doc["id"]
    keys = [r.headers.get("idempotency-key") for r in fake.requests if r.method == "POST" and r.path != "/v1/tax_rates"]
    assert all(k and k.startswith(inv["invoice_id"] + ":") for k in keys) and len(set(keys)) == len(keys)


async def test_a_tax_rate_is_created_once_and_found_again_by_a_new_worker(fake: fake_stripe.StripeFake) -> None:
    first, second = sample_invoice(9, targets=("stripe",)), sample_invoice(13, targets=("stripe",))
    sink = make_sink()
    try:
        await deliver(sink, first, sink.pipeline)
        await deliver(sink, second, sink.pipeline)
    finally:
        await sink.close()
    restarted = make_sink()  # a new process: nothing cached, finds the rate by metadata
    third = sample_invoice(18, targets=("stripe",))
    assert (await deliver_once(restarted, third)).status == "DELIVERED"
    created = posts(fake, "/v1/tax_rates")
    assert len(created) == 1 and len(fake.tax_rates) == 1
    assert [r.headers["idempotency-key"] for r in fake.requests if r.path == "/v1/tax_rates" and r.method == "POST"] \
        == ["tax_rate:vat:S:19"]
    assert sum(1 for r in fake.requests if r.path == "/v1/tax_rates" and r.method == "GET") == 2  # once per sink


async def test_us_sales_tax_and_zero_rated_lines_get_their_own_rates(fake: fake_stripe.StripeFake) -> None:
    us, eu = sample_invoice(5, targets=("stripe",)), sample_invoice(2, targets=("stripe",))
    for inv in (us, eu):
        assert (await deliver_once(make_sink(), inv)).status == "DELIVERED"
    keys = sorted(r["metadata"]["invoicing_tax"] for r in fake.tax_rates.values())
    assert keys == ["sales_tax:S:6.25", "vat:AE:0", "vat:K:0"]
    assert {r["display_name"] for r in fake.tax_rates.values()} == {"Sales tax", "VAT reverse charge",
                                                                   "VAT exempt (intra-Community supply)"}


async def test_per_line_rounding_trap_books_our_tax_through_manual_tax_amounts(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(4, targets=("stripe",), lines=TRAP)
    assert inv["tax_total"] == Decimal("0.07") and exact_groups(inv) == set()
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert not fake.tax_rates, "no tax rate: Stripe forbids tax_rates next to tax_amounts"
    amounts = [ln["tax_amounts"]["0"] for ln in doc["lines"]["data"]]
    assert sorted(int(a["amount"]) for a in amounts) == [2, 2, 3] and all(a["taxable_amount"] == "13" for a in amounts)
    assert all(a["tax_rate_data"]["percentage"] == "19" and a["tax_rate_data"]["inclusive"] == "false" for a in amounts)
    assert fake.booked[doc["id"]].tax == Decimal("0.07") and doc["total"] == 46


async def test_a_tie_on_a_line_also_takes_manual_amounts() -> None:
    inv = sample_invoice(7, targets=("stripe",))  # 1785.50 × 19 % = 339.245: a half cent on one line
    assert ("S", Decimal("19")) not in exact_groups(inv)
    assert "lines[1][tax_amounts][0][amount]" in line_params(inv, None)


async def test_crash_before_and_after_the_lines_resumes_the_draft(fake: fake_stripe.StripeFake) -> None:
    inv, other = sample_invoice(42, targets=("stripe",)), sample_invoice(46, targets=("stripe",))
    sink = make_sink()
    try:
        customer = await sink._customer(inv, inv["invoice_id"])
        empty = await sink._call("POST", "/v1/invoices", "create", data=invoice_params(inv, customer),
                                 key=f"{inv['invoice_id']}:invoice")
        customer2 = await sink._customer(other, other["invoice_id"])
        full = await sink._call("POST", "/v1/invoices", "create", data=invoice_params(other, customer2),
                                key=f"{other['invoice_id']}:invoice")
        await sink._call("POST", f"/v1/invoices/{full['id']}/add_lines", "lines", key="a-key-of-a-lost-run",
                         data=line_params(other, await sink._tax_rates(other)))
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None, "a draft is not a delivered invoice"
        results = [await deliver(sink, inv, sink.pipeline), await deliver(sink, other, sink.pipeline)]
    finally:
        await sink.close()
    assert [(r.status, r.external_id) for r in results] == [("DELIVERED", empty["id"]), ("DELIVERED", full["id"])]
    assert len(fake.created) == 2 and len(fake.customers) == 2
    for doc, src in ((fake.created[empty["id"]], inv), (fake.created[full["id"]], other)):
        assert len(doc["lines"]["data"]) == len(src["lines"]) and doc["total"] == int(src["total"] * 100)


async def test_credit_note_on_the_finalized_invoice_with_our_tax(fake: fake_stripe.StripeFake) -> None:
    inv, note = sample_invoice(13, targets=("stripe",)), sample_invoice(13, targets=("stripe",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        delivered = await deliver(sink, inv, sink.pipeline)
        credited = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (credited.status, again.status, again.external_id) == ("DELIVERED", "ALREADY_PRESENT", credited.external_id)
    assert credited.external_id
    cn = fake.credit_notes[credited.external_id]
    assert cn["invoice"] == delivered.external_id and cn["metadata"]["invoice_id"] == note["invoice_id"]
    assert cn["metadata"]["invoice_number"] == note["number"] and note["number"] in cn["memo"]
    (body,) = posts(fake, "/v1/credit_notes")
    assert [ln["type"] for ln in body["lines"].values()] == ["custom_line_item"] * len(note["lines"])
    assert all(ln["tax_rates"]["0"] in fake.tax_rates for ln in body["lines"].values())
    assert "out_of_band_amount" not in body, "an open invoice is reduced, not settled"
    assert cn["total"] == int(note["total"] * 100) and fake.booked[cn["id"]].tax == note["tax_total"]


async def test_credit_note_on_a_paid_invoice_is_settled_out_of_band(fake: fake_stripe.StripeFake) -> None:
    inv, note = sample_invoice(13, targets=("stripe",)), sample_invoice(13, targets=("stripe",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        fake.created[ref.external_id]["status"] = "paid"
        await sink.create_credit_note(note, note["invoice_id"], ref)
    finally:
        await sink.close()
    (body,) = posts(fake, "/v1/credit_notes")
    assert body["out_of_band_amount"] == str(int(note["total"] * 100))


async def test_credit_note_group_that_per_line_rounding_would_miss_goes_as_one_line(fake: fake_stripe.StripeFake) -> None:
    inv = sample_invoice(4, targets=("stripe",), lines=TRAP)
    note = sample_invoice(4, targets=("stripe",), lines=TRAP, document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        cn = await sink.create_credit_note(note, note["invoice_id"], ref)
    finally:
        await sink.close()
    (body,) = posts(fake, "/v1/credit_notes")
    assert [(ln["unit_amount"], ln["quantity"]) for ln in body["lines"].values()] == [("39", "1")]
    assert fake.booked[cn.external_id].tax == Decimal("0.07") and fake.booked[cn.external_id].linked_to == ref.external_id


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
        line_params(inv, None)
