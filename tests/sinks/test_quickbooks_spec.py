"""The requests the QuickBooks sink really sends, checked against the QuickBooks v3 schema.

The schema is the official Java SDK's (intuit/QuickBooks-V3-Java-SDK ``ipp-v3-java-data/src/main/xsd``,
Finance.xsd and IntuitBaseTypes.xsd), trimmed to the types our requests use:
tests/fakes/specs/quickbooks_finance.trimmed.xsd; `tests.fakes.targets.quickbooks.validate` walks it.
"""
from __future__ import annotations

import json
from decimal import Decimal

from sinks.delivery import deliver
from sinks.quickbooks import QuickBooksSink
from tests.fakes.targets import quickbooks as fake_qbo
from tests.support import sample_invoice, sink_under_test

SINK = QuickBooksSink


async def test_every_request_of_an_invoice_and_its_credit_note_validates_against_the_qbo_schema(
        fake: fake_qbo.QuickBooksFake) -> None:
    inv = sample_invoice(42, targets=("quickbooks",))
    note = sample_invoice(42, targets=("quickbooks",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        assert (await deliver(sink, inv, sink.pipeline)).status == "DELIVERED"
        assert (await deliver(sink, note, sink.pipeline)).status == "DELIVERED"
    finally:
        await sink.close()
    posts = {r.path.rsplit("/", 1)[1]: json.loads(r.body, parse_float=Decimal) for r in fake.requests if r.method == "POST"
             and "/v3/company/" in r.path}
    assert sorted(posts) == ["creditmemo", "customer", "invoice", "payment"]
    for resource, entity in (("invoice", "Invoice"), ("creditmemo", "CreditMemo"), ("payment", "Payment")):
        assert fake_qbo.validate(entity, posts[resource]) == [], (entity, posts[resource])
    assert set(posts["customer"]) <= fake_qbo._CUSTOMER


def test_the_schema_check_refuses_unknown_fields_wrong_types_bad_enums_and_missing_required_ones() -> None:
    ok = {"DocNumber": "CN-1", "CustomerRef": {"value": "130"}, "GlobalTaxCalculation": "TaxExcluded",
          "Line": [{"Amount": Decimal("1.00"), "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": Decimal(1), "UnitPrice": Decimal("1.00"),
                                            "TaxCodeRef": {"value": "5"}}}],
          "TxnTaxDetail": {"TotalTax": Decimal("0.19")}}
    assert fake_qbo.validate("CreditMemo", ok) == []
    assert fake_qbo.validate("CreditMemo", ok | {"TaxTotal": Decimal(1)}) == ["unknown field CreditMemo.TaxTotal"]
    assert fake_qbo.validate("CreditMemo", ok | {"DueDate": "24.12.2026"}) == ["CreditMemo.DueDate: '24.12.2026' is not an xs:date"]
    assert fake_qbo.validate("CreditMemo", ok | {"GlobalTaxCalculation": "Excluded"}) == [
        "CreditMemo.GlobalTaxCalculation: 'Excluded' is not one of GlobalTaxCalculationEnum"]
    assert fake_qbo.validate("CreditMemo", ok | {"CustomerRef": {"name": "Acme"}}) == ["CreditMemo.CustomerRef.value is required"]
    assert fake_qbo.validate("CreditMemo", ok | {"TxnTaxDetail": {"TotalTax": "0.19"}}) == [
        "CreditMemo.TxnTaxDetail.TotalTax: '0.19' is not an xs:decimal"]
    assert fake_qbo.validate("Invoice", ok | {"CustomerMemo": {"value": "x"}}) == [
        "Invoice.CustomerMemo: type MemoRef is not in the trimmed schema"]
    assert fake_qbo.validate("Payment", {"DueDate": "2026-12-24"}) == ["unknown field Payment.DueDate"]
