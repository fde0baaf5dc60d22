"""FreshBooks sink against the local FreshBooks stand-in."""
from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.errors import AuthError, InvoiceRejected
from sinks.freshbooks import FreshBooksSink
from tests.fakes.targets._token_issuer import REFRESH, SECRET, dec_json
from tests.fakes.targets.freshbooks import ACCOUNT, CLIENT, FakeFreshBooks, errors
from tests.support import create_once, sample_invoice, sink_under_test


SINK = FreshBooksSink


def make_sink() -> FreshBooksSink:
    return sink_under_test(SINK, quick_retries=False)


async def test_body_maps_lines_as_decimal_strings_tax_currency_and_number(fake: FakeFreshBooks) -> None:
    inv = sample_invoice(7)
    ref = await create_once(make_sink(), inv)
    post = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/invoices/invoices")][0]
    assert post.path == f"/accounting/account/{ACCOUNT}/invoices/invoices"
    sent = dec_json(post)["invoice"]
    assert sent["customerid"] == CLIENT and sent["invoice_number"] == inv["number"]
    assert sent["currency_code"] == "EUR" and sent["create_date"] == "2026-11-24" and sent["due_offset_days"] == 30
    assert [ln["unit_cost"] for ln in sent["lines"]] == [{"amount": "6890.00", "code": "EUR"}, {"amount": "1785.50", "code": "EUR"},
                                                         {"amount": "1120.00", "code": "EUR"}, {"amount": "1249.90", "code": "EUR"},
                                                         {"amount": "49.00", "code": "EUR"}]
    assert [ln["qty"] for ln in sent["lines"]] == ["5", "1", "2", "3", "1"]
    assert {(ln["taxName1"], ln["taxAmount1"]) for ln in sent["lines"]} == {("MwSt", "19")}
    assert Decimal(fake.created[ref.external_id]["amount"]["amount"]) == inv["total"]


async def test_validation_error_parks_with_freshbooks_message(fake: FakeFreshBooks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_FRESHBOOKS_ID_MAP", '{"customer:*": "999"}')
    inv = sample_invoice(20)
    with pytest.raises(InvoiceRejected, match=r"Client not found\. \(errno 1012, field customerid\)"):
        await create_once(make_sink(), inv)


async def test_token_refreshed_on_401_secrets_absent(fake: FakeFreshBooks) -> None:
    inv = sample_invoice(21)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.tokens.revoke()
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        assert fake.tokens.issued == 2
        fake.fail(401, times=2, body=errors("This action requires authentication to continue.", 1003))
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert SECRET not in str(err.value) and REFRESH not in str(err.value) and "tok-" not in str(err.value)
    assert "HTTP 401" in str(err.value)
