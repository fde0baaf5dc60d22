"""The records the NetSuite sink really writes, checked against NetSuite's documented record fields.

NetSuite publishes no OpenAPI document for the REST record service (it is generated per account);
tests/fakes/specs/netsuite_record_fields.json is the documented field list as JSON Schema and names
its sources. `tests.fakes.targets.netsuite.validate` checks a body with no field the record lacks.
"""
from __future__ import annotations

import json

from sinks.delivery import deliver
from sinks.netsuite import NetSuiteSink
from tests.fakes.targets.netsuite import FakeNetSuite, validate
from tests.support import sample_invoice, sink_under_test

SINK = NetSuiteSink


async def test_every_record_the_sink_writes_validates_against_the_documented_fields(fake: FakeNetSuite) -> None:
    inv = sample_invoice(43, targets=("netsuite",))
    note = sample_invoice(43, targets=("netsuite",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        assert (await deliver(sink, note, sink.pipeline)).status == "DELIVERED"
    finally:
        await sink.close()
    bodies = {r.path.split("/")[-2]: json.loads(r.body) for r in fake.requests if r.method == "PUT"}
    assert sorted(bodies) == ["creditMemo", "invoice"]
    for record, body in bodies.items():
        assert validate(record, body) == [], (record, body)
    assert "apply" in bodies["creditMemo"] and "dueDate" not in bodies["creditMemo"]


def test_the_field_check_refuses_unknown_fields_wrong_types_and_missing_required_ones() -> None:
    invoice = {"entity": {"id": "1042"}, "tranDate": "2026-11-24", "dueDate": "2026-12-24",
               "item": {"items": [{"item": {"id": "77"}, "quantity": 2, "rate": 10.0, "amount": 20.0,
                                   "taxDetailsReference": "L1"}]},
               "taxDetailsOverride": True,
               "taxDetails": {"items": [{"taxDetailsReference": "L1", "taxCode": {"id": "5"}, "taxBasis": 20.0,
                                         "taxRate": 19.0, "taxAmount": 3.8}]}}
    assert validate("invoice", invoice) == []
    assert validate("invoice", invoice | {"dueDate": "2026-12-24T00:00:00Z"}) == [
        "dueDate: '2026-12-24T00:00:00Z' does not match '^\\\\d{4}-\\\\d{2}-\\\\d{2}$'"]
    assert validate("invoice", invoice | {"apply": {"items": []}}) == [
        "(body): Additional properties are not allowed ('apply' was unexpected)"]
    assert validate("creditMemo", invoice) == ["(body): Additional properties are not allowed ('dueDate' was unexpected)"]
    wrong = invoice | {"item": {"items": [{"item": {"id": "77"}, "amount": "20.00", "taxCode": "5"}]}}
    assert validate("invoice", wrong) == ["item.items.0.amount: '20.00' is not of type 'number'",
                                          "item.items.0.taxCode: '5' is not of type 'object'"]
    memo = {k: v for k, v in invoice.items() if k not in ("dueDate", "entity")}
    assert validate("creditMemo", memo | {"apply": {"items": [{"doc": {"id": "9001"}, "amount": 1.0}]}}) == [
        "(body): 'entity' is a required property", "apply.items.0: 'apply' is a required property"]
