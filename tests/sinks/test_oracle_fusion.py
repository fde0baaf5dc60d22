"""Oracle Fusion sink against the receivablesInvoices stand-in: mapping, Basic and OAuth, Oracle's error bodies."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from invoicing.errors import AuthError, InvoiceRejected
from sinks.oracle_fusion import OracleFusionSink
from tests.fakes.targets.oracle_fusion import CLIENT_SECRET, PASSWORD, OracleFusionFake, oracle_error
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test


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
    assert fake.created[result.external_id]["EnteredAmount"] == inv["line_total"]
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
