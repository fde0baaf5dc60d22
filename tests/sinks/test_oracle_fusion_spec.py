"""The requests the Oracle Fusion sink really sends, checked against the REST guide's field lists.

Oracle publishes per-resource schemas in the REST API for Oracle Fusion Cloud Financials; no
machine-readable copy could be fetched here, so tests/fakes/specs/oracle_fusion_receivables.json
holds JSON Schemas written from the guide's field lists and examples (pages named in the file) for
``receivablesInvoices``, ``receivablesCreditMemos`` and the ``applyOnAccountCreditMemo`` SDO. The
bodies the sink sent for an invoice and its credit note must validate; unknown fields, missing
required fields and wrong types must not.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from sinks.delivery import deliver
from sinks.oracle_fusion import OracleFusionSink
from tests.fakes.targets.oracle_fusion import OracleFusionFake, soap_apply_values, spec_validator
from tests.support import sample_invoice, sink_under_test

SINK = OracleFusionSink


async def _sent(fake: OracleFusionFake) -> dict[str, Any]:
    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(2, targets=("oracle-fusion",)),
                    sample_invoice(2, targets=("oracle-fusion",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    out: dict[str, Any] = {}
    for r in fake.requests:
        if r.method == "POST" and r.path.endswith("CreditMemoService"):
            out["applyOnAccountCreditMemo"] = soap_apply_values(r.body)
        elif r.method == "POST" and "/resources/" in r.path:
            out[r.path.rsplit("/", 1)[1]] = json.loads(r.body, parse_float=Decimal)
    return out


def _errors(name: str, body: Any) -> list[str]:
    return [e.message for e in spec_validator(name).iter_errors(body)]


async def test_every_request_matches_the_documented_fields(fake: OracleFusionFake) -> None:
    sent = await _sent(fake)
    assert set(sent) == {"receivablesInvoices", "receivablesCreditMemos", "applyOnAccountCreditMemo"}
    for name, body in sent.items():
        assert _errors(name, body) == [], name


async def test_the_check_fails_on_unknown_missing_and_wrong_types(fake: OracleFusionFake) -> None:
    sent = await _sent(fake)
    memo, invoice = sent["receivablesCreditMemos"], sent["receivablesInvoices"]
    assert _errors("receivablesCreditMemos", dict(memo, InvoiceCurrencyCode="EUR"))  # the invoice's name, not the memo's
    assert _errors("receivablesCreditMemos", {k: v for k, v in memo.items() if k != "receivablesCreditMemoLines"})
    line = copy.deepcopy(invoice)
    line["receivablesInvoiceLines"][0]["Quantity"] = "2"
    assert _errors("receivablesInvoices", line)
    tax = copy.deepcopy(invoice)
    del tax["receivablesInvoiceLines"][0]["receivablesInvoiceLineTaxLines"][0]["TaxRateCode"]
    assert _errors("receivablesInvoices", tax)
    assert _errors("applyOnAccountCreditMemo", dict(sent["applyOnAccountCreditMemo"], InvoiceTrxId="1"))
