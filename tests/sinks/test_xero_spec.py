"""The requests the Xero sink really sends, checked against the official SDK's models.

xero-python (PyPI ``xero-python``, installed in the venv) is generated from XeroAPI/Xero-OpenAPI
``xero_accounting.yaml``; `tests.fakes.targets.xero.validate` walks its ``attribute_map`` /
``openapi_types`` (unknown field, JSON type) and deserialises with the SDK (required attributes, enums).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sinks.delivery import deliver
from sinks.xero import XeroSink
from tests.fakes.targets import xero as fake_xero
from tests.support import sample_invoice, sink_under_test

SINK = XeroSink
_MODELS = {"/Invoices": ("Invoices", "Invoice"), "/CreditNotes": ("CreditNotes", "CreditNote")}


def _model_of(path: str) -> tuple[str, str]:
    tail = path[len(fake_xero.API):]
    return ("Allocations", "Allocation") if tail.endswith("/Allocations") else _MODELS[tail]


async def test_every_request_of_an_invoice_and_its_credit_note_validates_against_xero_python(fake: fake_xero.XeroFake) -> None:
    inv = sample_invoice(41, targets=("xero",))
    note = sample_invoice(41, targets=("xero",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        assert (await deliver(sink, note, sink.pipeline)).status == "DELIVERED"
    finally:
        await sink.close()
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert sorted(_model_of(r.path)[1] for r in puts) == ["Allocation", "CreditNote", "Invoice"]
    for r in puts:
        wrapper, model = _model_of(r.path)
        body = json.loads(r.body, parse_float=Decimal)
        assert list(body) == [wrapper] and len(body[wrapper]) == 1
        assert fake_xero.validate(model, body[wrapper][0]) == [], (r.path, body)


def _invoice_body() -> dict[str, Any]:
    return {"Type": "ACCREC", "Contact": {"Name": "A"}, "Date": "2026-11-24", "DueDate": "2026-12-24",
            "LineAmountTypes": "Exclusive", "Status": "AUTHORISED", "CurrencyCode": "EUR",
            "LineItems": [{"Description": "x", "Quantity": Decimal(1), "UnitAmount": Decimal("10.00"),
                           "TaxType": "OUTPUT2", "TaxAmount": Decimal("1.90"), "AccountCode": "200"}]}


def test_the_sdk_check_refuses_unknown_fields_wrong_types_bad_enums_and_missing_required_ones() -> None:
    assert fake_xero.validate("Invoice", _invoice_body()) == []
    unknown = _invoice_body() | {"TaxTotal": Decimal(1)}
    assert fake_xero.validate("Invoice", unknown) == ["unknown field TaxTotal"]
    nested = _invoice_body()
    nested["LineItems"][0]["VatRate"] = Decimal(19)
    assert fake_xero.validate("Invoice", nested) == ["unknown field LineItems[0].VatRate"]
    string_amount = _invoice_body()
    string_amount["LineItems"][0]["TaxAmount"] = "1.90"
    assert any("TaxAmount must be a JSON number" in p for p in fake_xero.validate("Invoice", string_amount))
    assert fake_xero.validate("Invoice", _invoice_body() | {"CurrencyCode": "XXX"}) == ["Invoice: 'XXX' is not a valid CurrencyCode"]
    assert any("ACCRECCREDITX" in p for p in fake_xero.validate("CreditNote", {"Type": "ACCRECCREDITX"}))
    allocation = {"Amount": Decimal("5.00"), "Date": "2026-11-25", "Invoice": {"InvoiceID": "i-1"}}
    assert fake_xero.validate("Allocation", allocation) == []
    for required in ("Amount", "Date", "Invoice"):
        missing = {k: v for k, v in allocation.items() if k != required}
        assert fake_xero.validate("Allocation", missing), f"{required} is required by the SDK model"
    assert fake_xero.validate("Allocation", allocation | {"Date": "25.11.2026"}) == ["Date '25.11.2026' is not a date"]
