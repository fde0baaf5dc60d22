"""Dynamics 365 (Dataverse) sink against the local Dataverse stand-in."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.dynamics365 import Dynamics365Sink
from tests.fakes.targets._token_issuer import SECRET
from tests.fakes.targets.dynamics365 import ACCOUNT, CURRENCIES, FakeDataverse
from tests.support import create_and_find, create_once, sample_invoice, sink_under_test


SINK = Dynamics365Sink


def make_sink() -> Dynamics365Sink:
    return sink_under_test(SINK, quick_retries=False)


async def test_deep_insert_maps_number_customer_currency_lines_and_tax(fake: FakeDataverse) -> None:
    inv = sample_invoice(7)
    ref, found = await create_and_find(make_sink(), inv)
    assert found == ref
    stored = fake.created[ref.external_id]
    assert stored["name"] == stored["invoicenumber"] == inv["number"]
    assert stored["customerid_account@odata.bind"] == f"/accounts({ACCOUNT})"
    assert stored["transactioncurrencyid@odata.bind"] == f"/transactioncurrencies({CURRENCIES['EUR']})"
    assert stored["duedate"] == "2026-12-24"
    assert [d["priceperunit"] for d in stored["invoice_details"]] == [ln["unit_price"] for ln in inv["lines"]]
    assert stored["totallineitemamount"] == inv["line_total"]
    assert stored["totaltax"] == inv["tax_total"] and stored["totalamount"] == inv["total"] == Decimal("50306.30")
    assert fake.tokens.scopes == [f"{fake.url}/.default"]


async def test_service_protection_429_is_retriable_with_retry_after(fake: FakeDataverse) -> None:
    inv = sample_invoice(22)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(429, retry_after=42)
        with pytest.raises(RetriableSinkError, match="0x80072322: Number of requests exceeded") as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert err.value.retry_after == 42


async def test_validation_error_keeps_dataverse_message(fake: FakeDataverse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_DYNAMICS365_ID_MAP", '{"customer:*": "00000000-0000-4000-8000-000000000000", "currency:*": "%s"}'
                       % CURRENCIES["EUR"])
    inv = sample_invoice(23)
    with pytest.raises(InvoiceRejected, match="0x80048d19: accounts With Id = .* Does Not Exist"):
        await create_once(make_sink(), inv)


async def test_token_refreshed_on_401_and_never_in_errors(fake: FakeDataverse) -> None:
    inv = sample_invoice(24)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.tokens.revoke()
        await sink.find_invoice(inv, inv["invoice_id"])
        assert fake.tokens.issued == 2
        fake.tokens.client_secret = "rotated"
        fake.tokens.revoke()
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert SECRET not in str(err.value) and "tok-" not in str(err.value)
