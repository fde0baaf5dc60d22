"""The requests the Zoho Books sink really sends, checked against Zoho's published OpenAPI schemas.

Zoho publishes one OpenAPI document per Books module ("openapi-all"); the trimmed copy in
tests/fakes/specs/zoho_books_v3.trimmed.json names where invoices.yml and credit-notes.yml were read.
`tests.fakes.targets.zoho_books.validate` checks a body as JSON Schema with no undeclared property.
"""
from __future__ import annotations

import json

from sinks.delivery import deliver
from sinks.zoho_books import ZohoBooksSink
from tests.fakes.targets.zoho_books import CUSTOMER, FakeZohoBooks, validate
from tests.support import sample_invoice, sink_under_test

SINK = ZohoBooksSink


async def test_every_request_body_of_an_invoice_and_its_credit_note_validates_against_zohos_schemas(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(43, targets=("zoho-books",))
    note = sample_invoice(43, targets=("zoho-books",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        assert (await deliver(sink, note, sink.pipeline)).status == "DELIVERED"
    finally:
        await sink.close()
    bodies = {r.path.removeprefix("/books/v3").split("/")[-1] if "creditnotes/" not in r.path else "apply": json.loads(r.body)
              for r in fake.requests if r.method == "POST" and r.body and r.path.startswith("/books/v3")}
    assert sorted(bodies) == ["apply", "creditnotes", "invoices"]
    schemas = {"invoices": "create-an-invoice-request", "creditnotes": "create-a-credit-note-request",
               "apply": "credit-to-an-invoice-request"}
    for kind, body in bodies.items():
        assert validate(schemas[kind], body) == [], (kind, body)


def test_the_schema_check_refuses_unknown_fields_wrong_types_and_missing_required_ones() -> None:
    invoice = {"customer_id": CUSTOMER, "invoice_number": "INV-1", "date": "2026-11-24",
               "line_items": [{"name": "x", "rate": 10.0, "quantity": 2, "tax_id": "1"}]}
    assert validate("create-an-invoice-request", invoice) == []
    assert validate("create-an-invoice-request", invoice | {"currency_id": "1"}) == [
        "(body): Additional properties are not allowed ('currency_id' was unexpected)"]
    wrong = invoice | {"line_items": [{"name": "x", "rate": "10.00", "quantity": 2}]}
    assert validate("create-an-invoice-request", wrong) == ["line_items/0/rate: '10.00' is not of type 'number'"]
    note = {"customer_id": CUSTOMER, "date": "2026-11-25", "line_items": [{"name": "x", "rate": 10.0, "quantity": 2}]}
    assert validate("create-a-credit-note-request", note) == ["(body): 'creditnote_number' is a required property"]
    assert validate("create-a-credit-note-request", note | {"creditnote_number": "CN-1", "due_date": "2026-12-24"}) == [
        "(body): Additional properties are not allowed ('due_date' was unexpected)"]
    assert sorted(validate("credit-to-an-invoice-request", {"invoices": [{"invoice_id": "1", "amount_applied": 1.0}]})) == [
        "(body): 'amount_applied' is a required property", "(body): 'invoice_id' is a required property"]
