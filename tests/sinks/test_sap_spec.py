"""The requests the SAP sink really sends, checked against the SD/billing request shapes.

SAP's EDMX/OpenAPI documents for these APIs sit behind a login on api.sap.com; the shapes in
tests/fakes/specs/sap_s4_sd.json are [S]: written from platforms.md §2 and a third-party SDK's request
structs for API_CREDIT_MEMO_REQUEST_SRV (sources and tags in the file). The bodies the sink sent for
an invoice (a sales order it created and its billing) and the credit note (credit memo request and
its G2 billing) must validate; unknown properties, missing required ones and wrong types must not.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from sinks.delivery import deliver
from sinks.sap import SapSink
from tests.fakes.targets.sap import BILLING, CREDIT_MEMO_REQUESTS, SALES_ORDERS, FakeSap, spec_validator
from tests.support import sample_invoice, sink_under_test

SINK = SapSink
SCHEMAS = {SALES_ORDERS: "A_SalesOrder", CREDIT_MEMO_REQUESTS: "A_CreditMemoRequest",
           BILLING + "BillingDocument/SAP__self.CreateFromSDDocument": "CreateFromSDDocument"}


async def _sent(fake: FakeSap) -> list[tuple[str, Any]]:
    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(13, targets=("sap",)), sample_invoice(13, targets=("sap",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    return [(SCHEMAS[r.path], json.loads(r.body)) for r in fake.requests if r.method == "POST" and r.path in SCHEMAS]


def _errors(schema: str, body: Any) -> list[str]:
    return [e.message for e in spec_validator(schema).iter_errors(body)]


async def test_every_sd_and_billing_request_matches_the_shapes(fake: FakeSap) -> None:
    sent = await _sent(fake)
    assert [s for s, _ in sent] == ["A_SalesOrder", "CreateFromSDDocument", "A_CreditMemoRequest", "CreateFromSDDocument"]
    for schema, body in sent:
        assert _errors(schema, body) == [], schema


async def test_the_check_fails_on_unknown_missing_and_wrong_types(fake: FakeSap) -> None:
    sent = dict((s, b) for s, b in await _sent(fake) if s != "CreateFromSDDocument")
    cmr = sent["A_CreditMemoRequest"]
    assert _errors("A_CreditMemoRequest", dict(cmr, ReferenceBillingDocument=cmr["ReferenceSDDocument"]))
    assert _errors("A_CreditMemoRequest", {k: v for k, v in cmr.items() if k != "SDDocumentReason"})
    quantity = copy.deepcopy(sent["A_SalesOrder"])
    quantity["to_Item"][0]["RequestedQuantity"] = 2  # Edm.Decimal travels as a string in OData V2
    assert _errors("A_SalesOrder", quantity)
    price = copy.deepcopy(sent["A_SalesOrder"])
    del price["to_Item"][0]["to_PricingElement"][0]["ConditionType"]
    assert _errors("A_SalesOrder", price)
