"""SAP sink against the local S/4HANA stand-in."""
from __future__ import annotations


import pytest

from invoicing.errors import AuthError, InvoiceRejected
from sinks.sap import SapSink
from tests.fakes.targets._token_issuer import dec_json
from tests.fakes.targets.sap import BILLING, PASSWORD, FakeSap
from tests.support import create_and_find, create_once, find_once, sample_invoice, sink_under_test

CREATE = BILLING + "BillingDocument/SAP__self.CreateFromSDDocument"


SINK = SapSink


def make_sink() -> SapSink:
    return sink_under_test(SINK, quick_retries=False)


async def test_bills_the_replicated_sales_order_with_control_and_reference(fake: FakeSap) -> None:
    inv = sample_invoice(7)  # a Shopify order, replicated into SD as sales order 10007
    ref, found = await create_and_find(make_sink(), inv)
    assert found == ref
    post = [r for r in fake.requests if r.path == CREATE][0]
    assert dec_json(post) == {"_Control": {"DefaultBillingDocumentDate": "2026-11-24", "DefaultBillingDocumentType": "F2",
                                           "AutomPostingToAcctgIsDisabled": False},
                              "_Reference": [{"SDDocument": "10007", "SDDocumentCategory": "C"}]}
    fetch = [r for r in fake.requests if r.path == BILLING and r.method == "GET"][0]
    assert fetch.headers["x-csrf-token"] == "Fetch"
    assert fake.sales_orders["10007"]["billed"] == ref.external_id


async def test_native_sap_order_is_billed_directly(fake: FakeSap) -> None:
    inv = dict(sample_invoice(30), orders=["sap:4711"], lineage=[])
    ref = await create_once(make_sink(), inv)
    assert fake.created[ref.external_id]["_Reference"] == [{"SDDocument": "4711", "SDDocumentCategory": "C"}]
    assert not [r for r in fake.requests if "A_SalesOrder" in r.path]


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
    posts = [r for r in fake.requests if r.path == CREATE]
    assert len(fetches) == 2 and len(posts) == 3 and len(fake.created) == 2


async def test_order_without_sap_sales_order_is_not_applicable(fake: FakeSap) -> None:
    inv = dict(sample_invoice(33), orders=["woocommerce:991"], lineage=[])
    with pytest.raises(InvoiceRejected, match="not applicable: order woocommerce:991 has no SAP sales order"):
        await find_once(make_sink(), inv)


async def test_already_billed_order_parks_with_sap_message(fake: FakeSap) -> None:
    inv = sample_invoice(34)
    fake.sales_orders["10034"]["billed"] = "80000001"
    sink = make_sink()
    try:
        assert (await sink.find_invoice(inv, inv["invoice_id"])).external_id == "80000001"
        with pytest.raises(InvoiceRejected, match="VF/017: The document 10034 is already completely billed"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_wrong_password_is_auth_error_without_the_password(fake: FakeSap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SAP_PASSWORD", "not-" + PASSWORD)
    inv = sample_invoice(35)
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert PASSWORD not in str(err.value)
