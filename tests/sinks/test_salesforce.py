"""Salesforce sink against the local Salesforce stand-in."""
from __future__ import annotations


import pytest

from invoicing.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.salesforce import SalesforceSink
from tests.fakes.target_base import Reply, Req
from tests.fakes.targets._token_issuer import SECRET
from tests.fakes.targets.salesforce import ACCOUNT, FIELD, ORDER, FakeSalesforce, errors
from tests.support import create_and_find, sample_invoice, sink_under_test


SINK = SalesforceSink


def make_sink() -> SalesforceSink:
    return sink_under_test(SINK, quick_retries=False)


async def test_salesforce_order_generates_with_billing_transaction_and_correlation(fake: FakeSalesforce) -> None:
    inv = dict(sample_invoice(40), orders=[f"salesforce:{ORDER}"], lineage=[])
    ref, found = await create_and_find(make_sink(), inv)
    assert found == ref
    assert fake.generate_calls == [{"billingTransactionId": ORDER, "action": "Posted", "invoiceDate": "2026-11-24",
                                     "targetDate": "2026-11-24", "correlationId": inv["invoice_id"]}]
    assert fake.invoices[ref.external_id][FIELD] == inv["number"]


async def test_foreign_order_bills_the_mapped_account(fake: FakeSalesforce) -> None:
    inv = sample_invoice(41)
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert fake.generate_calls[0]["accountId"] == ACCOUNT and "billingTransactionId" not in fake.generate_calls[0]


async def test_crash_between_generate_and_stamp_is_claimed_not_regenerated(fake: FakeSalesforce) -> None:
    inv = dict(sample_invoice(42), orders=[f"salesforce:{ORDER}"], lineage=[])
    sink = make_sink()
    try:
        fake.fail(503, times=1)  # warm the token first, then lose the stamping PATCH
        with pytest.raises(RetriableSinkError):
            await sink.find_invoice(inv, inv["invoice_id"])
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        original = fake.handle

        def drop_patch(req: Req) -> Reply:
            if req.method == "PATCH":
                return Reply(500, errors(500, "An unexpected error occurred."))
            return original(req)

        fake.handle = drop_patch  # type: ignore[method-assign]
        with pytest.raises(RetriableSinkError):
            await sink.create_invoice(inv, inv["invoice_id"])
        fake.handle = original  # type: ignore[method-assign]
        found = await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert found is not None and len(fake.created) == 1 and len(fake.generate_calls) == 1
    assert fake.invoices[found.external_id][FIELD] == inv["number"]


async def test_request_limit_403_is_retriable_other_403_is_auth(fake: FakeSalesforce) -> None:
    inv = sample_invoice(43)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(403, body=errors(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"))
        with pytest.raises(RetriableSinkError, match="request limit"):
            await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(403, body=errors(403, "insufficient access rights on object id"))
        with pytest.raises(AuthError, match="INSUFFICIENT_ACCESS"):
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_generate_error_parks_with_salesforce_message_and_token_refresh(fake: FakeSalesforce) -> None:
    inv = dict(sample_invoice(44), orders=["salesforce:801SG00000UNKNOWN"], lineage=[])
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.tokens.revoke()
        with pytest.raises(InvoiceRejected, match="INVALID_ID_FIELD: Specify a valid billing transaction ID") as err:
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert fake.tokens.issued == 2 and SECRET not in str(err.value)
