"""Salesforce sink against the local Salesforce stand-in: generate + post, checkout, amounts, credit memos."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.salesforce import SalesforceSink
from tests.fakes.target_base import Booked, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, dec_json
from tests.fakes.targets.salesforce import ACCOUNT, B, FIELD, ORDER, TAX_TREATMENTS, FakeSalesforce, errors
from tests.support import create_and_find, deliver_once, sample_invoice, sink_under_test, deliver_invoice_and_note


SINK = SalesforceSink


def make_sink() -> SalesforceSink:
    return sink_under_test(SINK, quick_retries=False)


def bodies(fake: FakeSalesforce, path: str) -> list[Any]:
    return [dec_json(r) for r in fake.requests if r.method == "POST" and r.path == path]


def order_invoice(n: int) -> dict[str, Any]:
    """An invoice of the Salesforce Order, as Salesforce's own schedules price it (2 x 500.00 at 19 %)."""
    inv = dict(sample_invoice(4, lines=[("KS-FLT-01", "2", "500.00")]), orders=[f"salesforce:{ORDER}"], lineage=[])
    return dict(inv, number=f"INV-2026-{n:06d}", invoice_id=f"inv_{n}")


async def test_a_salesforce_order_is_generated_as_draft_checked_then_posted(fake: FakeSalesforce) -> None:
    inv = order_invoice(40)
    ref, found = await create_and_find(make_sink(), inv)
    assert found == ref
    assert fake.generate_calls == [{"billingTransactionId": ORDER, "action": "Draft", "invoiceDate": "2026-11-24",
                                     "targetDate": "2026-11-24", "correlationId": inv["invoice_id"]}]
    assert bodies(fake, f"{B}/invoices/collection/actions/post") == [{"invoiceIds": [ref.external_id]}]
    assert fake.invoices[ref.external_id][FIELD] == inv["number"]
    assert fake.booked[ref.external_id] == Booked("invoice", inv["total"], inv["tax_total"])


async def test_an_order_salesforce_priced_differently_stays_a_draft_and_is_refused(fake: FakeSalesforce) -> None:
    inv = dict(sample_invoice(44), orders=[f"salesforce:{ORDER}"], lineage=[])
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and "Salesforce computed total 1190.00, tax 190.00" in (result.detail or "")
    assert "left in draft" in (result.detail or "")
    (draft,) = fake.invoices.values()
    assert draft["Status"] == "Draft" and draft[FIELD] is None and not fake.booked


async def test_a_foreign_order_is_booked_through_billing_checkout_with_tax_treatments(fake: FakeSalesforce) -> None:
    inv = sample_invoice(41)
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    (checkout,) = bodies(fake, f"{B}/invoices/collection/actions/checkout")
    assert (checkout["accountId"], checkout["currencyIsoCode"], checkout["previewInvoice"]) == (ACCOUNT, inv["currency"], False)
    assert [(i["quantity"], i["netUnitPrice"], i["lineTotal"]) for i in checkout["lineItems"]] == \
        [(ln["quantity"], ln["unit_price"], ln["net_amount"]) for ln in inv["lines"]]
    keys = {f"{ln['tax_category']}:{ln['tax_rate'].normalize():f}" for ln in inv["lines"]}
    assert {i["taxTreatmentId"] for i in checkout["lineItems"]} == {TAX_TREATMENTS[k] for k in keys}
    assert not fake.generate_calls
    assert fake.booked[ref.external_id] == Booked("invoice", inv["total"], inv["tax_total"])


async def test_a_tax_engine_rounding_per_line_gets_the_checkout_invoice_voided(fake: FakeSalesforce) -> None:
    fake.tax_rounding = "line"
    inv = sample_invoice(4, lines=[("KS-FLT-01", "1", "0.13")] * 3)
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and "tax 0.06" in (result.detail or "") and "voided" in (result.detail or "")
    (voided,) = fake.invoices.values()
    assert voided["Status"] == "Canceled" and not fake.booked


async def test_credit_note_is_a_standalone_credit_memo_applied_to_salesforces_invoice(fake: FakeSalesforce) -> None:
    inv = sample_invoice(4, lines=[("KS-FLT-01", "1", "0.13")] * 3)
    note = sample_invoice(4, lines=[("KS-FLT-01", "1", "0.13")] * 3, document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    (memo,) = bodies(fake, f"{B}/credit-memos/actions/generate")
    assert (memo["externalReference"], memo["taxStrategy"], memo["type"]) == (note["number"], "ManualOverride", "Posted")
    assert [t["taxAmount"] for c in memo["charges"] for t in c["taxes"]] == [Decimal("0.03"), Decimal("0.02"), Decimal("0.02")]
    (apply,) = bodies(fake, f"{B}/credit-memos/{credited.external_id}/actions/apply")
    assert apply["applications"][0]["appliedToId"] == first.external_id and apply["applications"][0]["amount"] == note["total"]
    assert fake.booked[credited.external_id or ""] == Booked("credit_note", note["total"], Decimal("0.07"), first.external_id)


async def test_crash_between_generate_and_stamp_is_claimed_not_regenerated(fake: FakeSalesforce) -> None:
    inv = order_invoice(42)
    sink = make_sink()
    try:
        original = fake.handle

        def drop_patch(req: Req) -> Reply:
            if req.method == "PATCH":
                return Reply(500, errors(500, "An unexpected error occurred."))
            return original(req)

        fake.handle = drop_patch  # type: ignore[method-assign]
        with pytest.raises(RetriableSinkError):
            await sink.create_invoice(inv, inv["invoice_id"])
        fake.handle = original  # type: ignore[method-assign]
        found = await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert found is not None and len(fake.created) == 1 and len(fake.generate_calls) == 1
    assert fake.invoices[found.external_id][FIELD] == inv["number"]


async def test_request_limit_403_is_retriable_other_403_is_auth(fake: FakeSalesforce) -> None:
    inv = sample_invoice(43)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(403, body=errors(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"))
        with pytest.raises(RetriableSinkError, match="request limit"):
            await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(403, body=errors(403, "insufficient access rights on object id"))
        with pytest.raises(AuthError, match="INSUFFICIENT_ACCESS"):
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_generate_error_parks_with_salesforce_message_and_token_refresh(fake: FakeSalesforce) -> None:
    inv = dict(sample_invoice(44), orders=["salesforce:801SG00000UNKNOWN"], lineage=[])
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.tokens.revoke()
        with pytest.raises(InvoiceRejected, match="INVALID_ID_FIELD: Specify a valid billing transaction ID") as err:
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert fake.tokens.issued == 2 and SECRET not in str(err.value)


async def test_an_unmapped_tax_treatment_is_named_and_nothing_is_sent(fake: FakeSalesforce,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SALESFORCE_TAX_TREATMENTS", '{"S:19": "1ttSG00000TAX00000"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000"))}) == [
        'INVOICING_SALESFORCE_TAX_TREATMENTS has no entry "K:0" (the TaxTreatment id)']
    result = await deliver_once(sink, sample_invoice(2))
    assert result.status == "PARKED" and 'no entry "K:0"' in (result.detail or "")
    assert not bodies(fake, f"{B}/invoices/collection/actions/checkout")
