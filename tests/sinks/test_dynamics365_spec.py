"""The request the Dynamics 365 sink really sends, checked against Dataverse's column metadata.

An org's ``$metadata`` is per org; Microsoft's Dynamics 365 Sales table reference lists the invoice and
invoice product columns with type, date-time behavior, length and create validity, trimmed into
tests/fakes/specs/dynamics365_invoice_attributes.json. Credit notes are not sent at all (the sink's
``no_credit_notes`` cites why).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sinks.delivery import deliver
from sinks.dynamics365 import Dynamics365Sink
from tests.fakes.targets._token_issuer import dec_json
from tests.fakes.targets.dynamics365 import FakeDataverse, validate
from tests.support import sample_invoice, sink_under_test

SINK = Dynamics365Sink


async def test_the_invoice_request_validates_and_the_credit_note_is_not_sent(fake: FakeDataverse) -> None:
    inv = sample_invoice(48, targets=("dynamics365",))
    note = sample_invoice(48, targets=("dynamics365",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        credited = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    (post,) = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/invoices")]
    body = dec_json(post)
    assert validate("invoice", body) == [], body
    assert body["duedate"] == inv["due_date"].isoformat() and body["datedelivered"].endswith("T00:00:00Z")
    assert "ispricelocked" not in body
    assert credited.status == "NOT_APPLICABLE" and "https://learn.microsoft.com/" in str(credited.detail)
    assert [r.method for r in fake.requests if "/api/data/" in r.path].count("POST") == 1


def test_the_metadata_check_refuses_unknown_columns_columns_not_valid_for_create_and_wrong_types() -> None:
    ok = {"name": "INV-1", "invoicenumber": "INV-1", "duedate": "2026-12-24", "datedelivered": "2026-11-23T00:00:00Z",
          "customerid_account@odata.bind": "/accounts(a1b2c3d4-0000-4000-8000-000000000001)",
          "invoice_details": [{"isproductoverridden": True, "productdescription": "x", "quantity": Decimal(1),
                               "priceperunit": Decimal("10.00"), "tax": Decimal("1.90"), "lineitemnumber": Decimal(1)}]}
    assert validate("invoice", ok) == []
    assert validate("invoice", ok | {"ispricelocked": True}) == ["invoice: 'ispricelocked' is not valid for create"]
    assert validate("invoice", ok | {"duedate": "2026-12-24T00:00:00Z"}) == [
        "invoice: Cannot convert the literal '2026-12-24T00:00:00Z' of 'duedate' to the expected type: an Edm.Date (yyyy-mm-dd)"]
    assert validate("invoice", ok | {"datedelivered": date(2026, 11, 23).isoformat()}) == [
        "invoice: Cannot convert the literal '2026-11-23' of 'datedelivered' to the expected type: an Edm.DateTimeOffset"]
    assert validate("invoice", ok | {"totaltaxx": Decimal(1)}) == [
        "invoice: Could not find a property named 'totaltaxx' on type 'Microsoft.Dynamics.CRM.invoice'"]
    assert validate("invoice", ok | {"invoice_details": [ok["invoice_details"][0] | {"tax": "1.90"}]}) == [
        "invoice.invoice_details[0]: invoicedetail: Cannot convert the literal '1.90' of 'tax' to the expected type: an Edm.Decimal number"]
    assert validate("invoice", ok | {"account@odata.bind": "/accounts(x)"}) == [
        "invoice: 'account@odata.bind' is not a navigation property of invoice"]
