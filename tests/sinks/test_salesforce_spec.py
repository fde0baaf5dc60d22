"""The Revenue Cloud Billing requests the Salesforce sink really sends, checked against the documented inputs.

Salesforce publishes no OpenAPI for the Connect REST billing resources; tests/fakes/specs/salesforce_billing.json
holds JSON Schemas written from the Revenue Management developer guide's input pages (named there). The bodies
the sink sent for an invoice of a Salesforce Order (generate, post), an invoice of a foreign order (checkout)
and a credit note (standalone credit memo, apply) must validate; unknown properties, missing required ones
and wrong types must not.
"""
from __future__ import annotations

import copy
from typing import Any

from sinks.delivery import deliver
from sinks.salesforce import SalesforceSink
from tests.fakes.targets._token_issuer import dec_json
from tests.fakes.targets.salesforce import B, ORDER, FakeSalesforce, spec_validator
from tests.support import sample_invoice, sink_under_test

SINK = SalesforceSink


def _name(path: str) -> str | None:
    for suffix, name in (("/invoices/collection/actions/generate", "generate"), ("/invoices/collection/actions/post", "post"),
                         ("/invoices/collection/actions/checkout", "checkout"), ("/credit-memos/actions/generate", "credit-memo")):
        if path == B + suffix:
            return name
    return "apply" if path.startswith(B + "/credit-memos/") and path.endswith("/actions/apply") else None


async def _sent(fake: FakeSalesforce) -> dict[str, Any]:
    ordered = dict(sample_invoice(4, lines=[("KS-FLT-01", "2", "500.00")]), orders=[f"salesforce:{ORDER}"], lineage=[],
                   number="INV-2026-000900", invoice_id="inv_900")
    sink = sink_under_test(SINK)
    try:
        for doc in (ordered, sample_invoice(2), sample_invoice(2, document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    return {n: dec_json(r) for r in fake.requests if r.method == "POST" and (n := _name(r.path))}


def _errors(name: str, body: Any) -> list[str]:
    return [e.message for e in spec_validator(name).iter_errors(body)]


async def test_every_billing_request_matches_the_documented_input(fake: FakeSalesforce) -> None:
    sent = await _sent(fake)
    assert set(sent) == {"generate", "post", "checkout", "credit-memo", "apply"}
    for name, body in sent.items():
        assert _errors(name, body) == [], name


async def test_the_check_fails_on_unknown_missing_and_wrong_types(fake: FakeSalesforce) -> None:
    sent = await _sent(fake)
    memo, checkout = sent["credit-memo"], sent["checkout"]
    assert _errors("credit-memo", dict(memo, invoiceId="3tt"))                           # unknown
    assert _errors("credit-memo", {k: v for k, v in memo.items() if k != "taxStrategy"})  # required
    wrong = copy.deepcopy(memo)
    wrong["charges"][0]["taxes"][0]["taxAmount"] = "0.07"                                  # a number, not text
    assert _errors("credit-memo", wrong)
    line = copy.deepcopy(checkout)
    line["lineItems"][0]["taxTreatment"] = line["lineItems"][0].pop("taxTreatmentId")
    assert _errors("checkout", line)
    assert _errors("apply", {"applications": [{"invoiceId": "3tt", "amount": 1}]})
