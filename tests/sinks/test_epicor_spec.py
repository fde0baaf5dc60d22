"""The Epicor Function calls the Epicor sink really sends, checked against the function contract.

Epicor publishes no spec for Epicor Functions (they are defined per tenant); the contract is ours
(sinks/epicor.py docstring), written as JSON Schema in tests/fakes/specs/epicor_function_contract.json.
The bodies the sink sent for an invoice and its credit note must validate; an unknown property,
a missing required one or a wrong type must not.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from sinks.delivery import deliver
from sinks.epicor import EpicorSink
from tests.fakes.targets.epicor import EpicorFake, contract_validator
from tests.support import sample_invoice, sink_under_test

SINK = EpicorSink


async def _calls(fake: EpicorFake) -> dict[str, Any]:
    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(6, targets=("epicor",)), sample_invoice(6, targets=("epicor",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    return {r.path.rsplit("/", 1)[1]: json.loads(r.body, parse_float=Decimal) for r in fake.requests if r.method == "POST"}


async def test_both_function_bodies_validate_against_the_contract(fake: EpicorFake) -> None:
    calls = await _calls(fake)
    assert set(calls) == {"CreateARInvoice", "CreateARCreditMemo"}
    for function, body in calls.items():
        assert list(contract_validator(function).iter_errors(body)) == [], function


async def test_the_contract_check_fails_on_unknown_missing_and_wrong_types(fake: EpicorFake) -> None:
    calls = await _calls(fake)
    memo = calls["CreateARCreditMemo"]
    broken: dict[str, Any] = {"unknown": dict(memo, CreditMemoReason="returned"),
                              "missing link": {k: v for k, v in memo.items() if k != "ApplyToInvoiceNum"},
                              "link as text": dict(memo, ApplyToInvoiceNum="100201"),
                              "date with time": dict(memo, InvoiceDate="2026-11-25T09:00:00")}
    line = copy.deepcopy(memo)
    line["Lines"][0]["TaxLines"][0]["TaxPercent"] = line["Lines"][0]["TaxLines"][0].pop("Percent")
    broken["renamed tax field"] = line
    for what, body in broken.items():
        assert list(contract_validator("CreateARCreditMemo").iter_errors(body)), what
    assert list(contract_validator("CreateARInvoice").iter_errors(memo)), "an invoice takes no ApplyToInvoiceNum"
