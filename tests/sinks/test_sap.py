"""SAP sink against the local S/4HANA stand-in: SD documents, billing, release to accounting, credit memos."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected
from sinks.delivery import deliver
from sinks.sap import SapSink
from tests.fakes.target_base import Booked
from tests.fakes.targets._token_issuer import dec_json
from tests.fakes.targets.sap import BILLING, CREDIT_MEMO_REQUESTS, PASSWORD, SALES_ORDERS, FakeSap
from tests.support import create_once, deliver_once, find_once, sample_invoice, sink_under_test, deliver_invoice_and_note

CREATE = BILLING + "BillingDocument/SAP__self.CreateFromSDDocument"


SINK = SapSink


def make_sink() -> SapSink:
    return sink_under_test(SINK, quick_retries=False)


def posts(fake: FakeSap, path: str) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in fake.requests if r.method == "POST" and r.path == path]


async def test_a_replicated_sales_order_is_billed_then_released_when_sap_priced_it_as_we_did(fake: FakeSap) -> None:
    inv = sample_invoice(7)
    fake.replicate("shopify:5800000000007", inv, "10007")  # the tenant's replication of the web-shop order
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        assert await sink.find_invoice(inv, inv["invoice_id"]) == ref
    finally:
        await sink.close()
    post = [r for r in fake.requests if r.path == CREATE][0]
    assert dec_json(post) == {"_Control": {"DefaultBillingDocumentDate": "2026-11-24", "DefaultBillingDocumentType": "F2",
                                           "AutomPostingToAcctgIsDisabled": True},
                              "_Reference": [{"SDDocument": "10007", "SDDocumentCategory": "C"}]}
    fetch = [r for r in fake.requests if r.path == BILLING and r.method == "GET"][0]
    assert fetch.headers["x-csrf-token"] == "Fetch"
    assert not posts(fake, SALES_ORDERS)  # SAP's own copy of the order is billed, no second one made
    assert fake.documents[ref.external_id]["posted"]
    assert fake.booked[ref.external_id] == Booked("invoice", inv["total"], inv["tax_total"])


async def test_without_an_sd_order_the_sink_creates_one_from_our_lines(fake: FakeSap) -> None:
    inv = sample_invoice(5, targets=("sap",))  # USD, sales tax 6.25 %, a shipping line without SKU
    first = await deliver_once(make_sink(), inv)
    again = await deliver_once(make_sink(), inv)
    assert (first.status, again.status) == ("DELIVERED", "ALREADY_PRESENT") and first.external_id == again.external_id
    (so,) = posts(fake, SALES_ORDERS)
    assert (so["SalesOrderType"], so["SoldToParty"], so["PurchaseOrderByCustomer"], so["TransactionCurrency"]) == \
        ("OR", "1000100", inv["number"], "USD")
    assert [(i["Material"], i["RequestedQuantity"], i["ProductTaxClassification1"], i["to_PricingElement"][0]["ConditionRateValue"])
            for i in so["to_Item"]] == [("SRV-GENERIC", f"{ln['quantity'].normalize():f}", "7", f"{ln['unit_price']:.2f}")
                                        for ln in inv["lines"]]
    assert fake.booked[first.external_id] == Booked("invoice", inv["total"], inv["tax_total"])


async def test_a_sales_order_made_before_a_crash_is_billed_not_made_twice(fake: FakeSap) -> None:
    inv = sample_invoice(9, targets=("sap",))
    sink = make_sink()
    original = fake.handle

    def lose_billing(req):  # type: ignore[no-untyped-def]
        if req.path == CREATE:
            return original(req.__class__(req.method, "/nowhere", req.query, req.headers, req.body))
        return original(req)

    try:
        fake.handle = lose_billing  # type: ignore[method-assign]
        with pytest.raises(InvoiceRejected):
            await sink.create_invoice(inv, inv["invoice_id"])
        fake.handle = original  # type: ignore[method-assign]
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "ALREADY_PRESENT" and len(fake.sales_orders) == 2  # 4711 and ours
    assert fake.booked[result.external_id or ""].total == inv["total"]


async def test_a_document_sap_priced_differently_stays_unposted_and_is_refused(fake: FakeSap) -> None:
    inv = dict(sample_invoice(30), orders=["sap:4711"], lineage=[])  # SAP's order 4711: 2 x 500.00 at 19 %
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "SAP priced net 1000.00, tax 190.00 EUR" in (result.detail or "") and "not released" in (result.detail or "")
    (doc,) = fake.documents.values()
    assert not doc["posted"] and not fake.booked
    assert not posts(fake, SALES_ORDERS)  # SAP's own order is billed; only our number was looked up
    assert [r.query["$filter"] for r in fake.requests if r.path == SALES_ORDERS] == [f"PurchaseOrderByCustomer eq '{inv['number']}'"]


async def test_tax_rounded_per_item_is_refused_for_an_invoice_rounded_per_group(fake: FakeSap) -> None:
    fake.tax_rounding = "item"
    inv = sample_invoice(4, targets=("sap",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and "tax 0.06" in (result.detail or "") and not fake.booked


async def test_credit_note_is_a_credit_memo_request_against_saps_billing_document_billed_g2(fake: FakeSap) -> None:
    inv = sample_invoice(2, targets=("sap",))
    note = sample_invoice(2, targets=("sap",), document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    (cmr,) = posts(fake, CREDIT_MEMO_REQUESTS)
    assert (cmr["CreditMemoRequestType"], cmr["SDDocumentReason"], cmr["PurchaseOrderByCustomer"]) == ("CR", "002", note["number"])
    assert (cmr["ReferenceSDDocument"], cmr["ReferenceSDDocumentCategory"]) == (first.external_id, "M")
    bill = dec_json([r for r in fake.requests if r.path == CREATE][-1])
    assert bill["_Control"]["DefaultBillingDocumentType"] == "G2" and bill["_Reference"][0]["SDDocumentCategory"] == "K"
    assert {i["ProductTaxClassification1"] for i in cmr["to_Item"]} == {"2", "3"}  # K and AE
    assert fake.booked[credited.external_id or ""] == Booked("credit_note", note["total"], note["tax_total"], first.external_id)


async def test_csrf_token_refetched_once_after_403_required(fake: FakeSap) -> None:
    first, second = sample_invoice(31), sample_invoice(32)
    sink = make_sink()
    try:
        await sink.create_invoice(first, first["invoice_id"])
        fake.expire_csrf()  # the SAP session timed out
        await sink.create_invoice(second, second["invoice_id"])
    finally:
        await sink.close()
    fetches = [r for r in fake.requests if r.path == BILLING and r.headers.get("x-csrf-token") == "Fetch"]
    all_posts = [r for r in fake.requests if r.method == "POST"]
    # per invoice: create the sales order, bill it, post it; the second's first POST was refused once (403 Required)
    assert len(fetches) == 2 and len(all_posts) == 7 and len(fake.booked) == 2


async def test_an_already_billed_order_parks_with_saps_message(fake: FakeSap) -> None:
    inv = sample_invoice(34)
    fake.replicate("shopify:5800000000034", inv, "10034")
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="VF/017: The document 10034 is already completely billed"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_an_unmapped_tax_class_is_named_and_nothing_is_created(fake: FakeSap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SAP_TAX_CLASSES", '{"S:19": "1"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("G", Decimal("0.0000"))}) == [
        'INVOICING_SAP_TAX_CLASSES has no entry "G:0" (the product tax classification of that rate)']
    with pytest.raises(InvoiceRejected, match='no entry "G:0"'):
        await create_once(sink, sample_invoice(3, targets=("sap",)))
    assert not posts(fake, SALES_ORDERS) and not fake.documents


async def test_wrong_password_is_auth_error_without_the_password(fake: FakeSap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SAP_PASSWORD", "not-" + PASSWORD)
    inv = sample_invoice(35)
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert PASSWORD not in str(err.value)
