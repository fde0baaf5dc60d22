"""The requests the FreshBooks sink really sends, checked against FreshBooks' documented field lists.

FreshBooks publishes no machine-readable spec; tests/fakes/specs/freshbooks_accounting_fields.json
keeps the documented fields of invoices, credit notes and payments (with the pages they come from)
as JSON Schema; `tests.fakes.targets.freshbooks.validate` refuses any field not documented there.
"""
from __future__ import annotations

import json

from sinks.delivery import deliver
from sinks.freshbooks import FreshBooksSink
from tests.fakes.targets.freshbooks import CLIENT, FakeFreshBooks, validate
from tests.support import sample_invoice, sink_under_test

SINK = FreshBooksSink


async def test_every_request_body_of_an_invoice_and_its_credit_note_has_only_documented_fields(fake: FakeFreshBooks) -> None:
    inv = sample_invoice(46, targets=("freshbooks",))
    note = sample_invoice(46, targets=("freshbooks",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        assert (await deliver(sink, note, sink.pipeline)).status == "DELIVERED"
    finally:
        await sink.close()
    bodies = {r.path.split("/")[-1]: json.loads(r.body) for r in fake.requests if r.method == "POST" and "/accounting/" in r.path}
    assert sorted(bodies) == ["credit_notes", "invoices", "payments"]
    for resource, request in (("invoices", "invoice"), ("credit_notes", "credit_note"), ("payments", "payment")):
        assert validate(request, bodies[resource]) == [], (request, bodies[resource])
    assert bodies["payments"]["payment"]["type"] == "Credit"


def test_the_field_check_refuses_undocumented_fields_wrong_types_and_missing_required_ones() -> None:
    line = {"name": "x", "qty": 1, "unit_cost": {"amount": "10.00", "code": "EUR"}, "taxName1": "MwSt", "taxAmount1": "19"}
    note = {"credit_note": {"clientid": CLIENT, "create_date": "2026-11-25", "credit_type": "goodwill", "lines": [line]}}
    assert validate("credit_note", note) == []
    assert validate("credit_note", {"credit_note": note["credit_note"] | {"invoiceid": 1}}) == [
        "credit_note: Additional properties are not allowed ('invoiceid' was unexpected)"]
    assert validate("credit_note", {"credit_note": note["credit_note"] | {"credit_type": "refund"}}) == [
        "credit_note/credit_type: 'refund' is not one of ['goodwill', 'prepayment']"]
    assert validate("credit_note", {"credit_note": note["credit_note"] | {"lines": [line | {"taxAmount1": 19}]}}) == [
        "credit_note/lines/0/taxAmount1: 19 is not of type 'string'"]
    assert validate("payment", {"payment": {"invoiceid": 1, "amount": {"amount": "1.00"}, "type": "Credit"}}) == [
        "payment: 'date' is a required property"]
