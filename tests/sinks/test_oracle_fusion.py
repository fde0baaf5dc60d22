"""Oracle Fusion sink against the receivablesInvoices stand-in: mapping, Basic and OAuth, Oracle's error bodies."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import AuthError, InvoiceRejected
from sinks.oracle_fusion import OracleFusionSink
from sinks.delivery import deliver
from tests.fakes.target_base import Booked
from tests.fakes.targets.oracle_fusion import CLIENT_SECRET, PASSWORD, OracleFusionFake, oracle_error
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test, deliver_invoice_and_note


SINK = OracleFusionSink


def make_sink() -> OracleFusionSink:
    return sink_under_test(SINK)


async def test_receivables_invoice_body_is_exact(fake: OracleFusionFake) -> None:
    inv = sample_invoice(5, targets=("oracle-fusion",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.headers["content-type"] == "application/vnd.oracle.adf.resourceitem+json"
    body = json.loads(post.body, parse_float=Decimal)
    assert body["TransactionNumber"] == inv["number"] and body["InvoiceCurrencyCode"] == "USD"
    assert (body["BusinessUnit"], body["TransactionSource"], body["TransactionType"]) == \
        ("Vision Operations", "Invoicing Pipeline", "Invoice")
    assert (body["TransactionDate"], body["DueDate"]) == (inv["issue_date"].isoformat(), inv["due_date"].isoformat())
    assert body["BillToCustomerNumber"] == inv["customer_id"] and body["PaymentTerms"] == "30 Net"
    assert [(ln["LineNumber"], ln["Description"], ln["Quantity"], ln["UnitSellingPrice"])
            for ln in body["receivablesInvoiceLines"]] == \
        [(i, ln["description"], ln["quantity"], ln["unit_price"]) for i, ln in enumerate(inv["lines"], 1)]
    taxes = [t for ln in body["receivablesInvoiceLines"] for t in ln["receivablesInvoiceLineTaxLines"]]
    assert {(t["TaxRegimeCode"], t["TaxRateCode"]) for t in taxes} == {("US SALES TAX", "MA 6.25")}
    assert sum(t["TaxAmount"] for t in taxes) == inv["tax_total"]  # manual tax lines: the group's tax, shared per line
    assert fake.created[result.external_id]["EnteredAmount"] == inv["total"]
    assert fake.booked[result.external_id] == Booked("invoice", inv["total"], inv["tax_total"])
    find = next(r for r in fake.requests if r.method == "GET")
    assert find.query["q"] == f"TransactionNumber='{inv['number']}' and TransactionSource='Invoicing Pipeline'"


async def test_oracle_refuses_a_duplicate_number_even_without_our_lookup(fake: OracleFusionFake) -> None:
    inv = sample_invoice(5, targets=("oracle-fusion",))
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="AR-855085 The transaction number .* already exists"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert len(fake.created) == 1


async def test_validation_errors_keep_oracles_details(fake: OracleFusionFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_ORACLE_FUSION_BUSINESS_UNIT", "Atlantis Operations")
    inv = sample_invoice(5, targets=("oracle-fusion",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "Bad Request: AR-855023 The business unit Atlantis Operations is not valid." in (result.detail or "")


async def test_basic_auth_failure_is_auth_error_without_the_password(fake: OracleFusionFake,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_ORACLE_FUSION_PASSWORD", "not-" + PASSWORD)
    inv = sample_invoice(5, targets=("oracle-fusion",))
    with pytest.raises(AuthError, match="Unauthorized") as err:
        await find_once(make_sink(), inv)
    assert PASSWORD not in str(err.value)


async def test_oauth_token_refreshed_on_401(fake: OracleFusionFake, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("INVOICING_ORACLE_FUSION_USERNAME", "INVOICING_ORACLE_FUSION_PASSWORD"):
        monkeypatch.delenv(k)
    for k, v in fake.oauth_env().items():
        monkeypatch.setenv(k, v)
    inv = sample_invoice(5, targets=("oracle-fusion",))
    sink = make_sink()
    try:
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        fake.revoke_tokens()
        ref = await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert fake.token_requests == 2 and ref.external_id in fake.created
    assert all(CLIENT_SECRET not in r.headers.get("authorization", "") for r in fake.requests)


async def test_error_body_variants_are_read(fake: OracleFusionFake) -> None:
    inv = sample_invoice(5, targets=("oracle-fusion",))
    sink = make_sink()
    try:
        fake.fail(400, body=b"Invalid query parameter q.")
        with pytest.raises(InvoiceRejected, match="HTTP 400: Invalid query parameter q."):
            await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(503, retry_after=3, body=oracle_error(503, ("FND-5000", "Service down for patching")).body)
        with pytest.raises(Exception) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
        assert getattr(err.value, "retry_after", None) == 3 and "Service down for patching" in str(err.value)
    finally:
        await sink.close()


async def test_credit_memo_is_created_on_account_then_applied_to_oracles_invoice(fake: OracleFusionFake) -> None:
    inv = sample_invoice(7, targets=("oracle-fusion",))
    note = sample_invoice(7, targets=("oracle-fusion",), document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    memo = fake.credit_memos[credited.external_id]
    assert (memo["TransactionNumber"], memo["TransactionType"], memo["CreditMemoCurrency"]) == (note["number"], "Credit Memo", "EUR")
    assert all(ln["UnitSellingPrice"] < 0 and ln["LineQuantityCredit"] > 0 for ln in memo["receivablesCreditMemoLines"])
    assert memo["TransactionBalanceDue"] == 0  # fully applied
    (application,) = fake.applications
    assert application["invoice"] == int(first.external_id) and Decimal(application["AmountApplied"]) == note["total"]
    assert fake.booked[credited.external_id] == Booked("credit_note", note["total"], note["tax_total"], first.external_id)


async def test_a_credit_memo_left_unapplied_by_a_crash_is_applied_on_redelivery(fake: OracleFusionFake) -> None:
    inv = sample_invoice(7, targets=("oracle-fusion",))
    note = sample_invoice(7, targets=("oracle-fusion",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        await deliver(sink, inv, sink.pipeline)
        original = fake.handle

        def lose_the_apply(req: Any) -> Any:
            return oracle_error(503, ("FND-5000", "down")) if "CreditMemoService" in req.path else original(req)

        fake.handle = lose_the_apply  # type: ignore[method-assign]
        first = await deliver(sink, note, sink.pipeline)
        fake.handle = original  # type: ignore[method-assign]
        assert first.status == "PARKED" and first.retriable and len(fake.credit_memos) == 1
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert again.status == "ALREADY_PRESENT" and len(fake.credit_memos) == 1 and len(fake.applications) == 1
    assert fake.booked[again.external_id or ""].linked_to is not None


async def test_an_unmapped_tax_rate_is_named_and_nothing_is_sent(fake: OracleFusionFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_ORACLE_FUSION_TAX_RATES", '{"S:19": "DE VAT/DE VAT STANDARD", "S:6.25": "US"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("S", Decimal("6.2500"))}) == [
        'INVOICING_ORACLE_FUSION_TAX_RATES has no entry "S:6.25" ("<TaxRegimeCode>/<TaxRateCode>")']
    result = await deliver_once(sink, sample_invoice(5, targets=("oracle-fusion",)))
    assert result.status == "PARKED" and 'no entry "S:6.25"' in (result.detail or "")
    assert not [r for r in fake.requests if r.method == "POST"]
