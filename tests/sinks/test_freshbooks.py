"""FreshBooks sink against the local FreshBooks stand-in."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected
from sinks.delivery import deliver
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
    assert [ln["qty"] for ln in sent["lines"]] == [5, 1, 2, 3, 1]
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


async def test_credit_note_is_applied_to_the_invoice_by_a_credit_payment_once(fake: FakeFreshBooks) -> None:
    inv = sample_invoice(47, targets=("freshbooks",))
    note = sample_invoice(47, targets=("freshbooks",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = (await deliver(sink, inv, sink.pipeline)).external_id
        first = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (first.status, again.status) == ("DELIVERED", "ALREADY_PRESENT") and first.external_id == again.external_id
    (credit,) = fake.credit_notes.values()
    assert credit["credit_number"] == note["number"] and credit["credit_type"] == "goodwill"
    assert Decimal(credit["amount"]["amount"]) == note["total"]
    (payment,) = fake.payments.values()
    assert (payment["type"], str(payment["invoiceid"]), str(payment["creditid"])) == ("Credit", invoice_id, first.external_id)
    assert Decimal(fake.invoices[int(str(invoice_id))]["outstanding"]["amount"]) == inv["total"] - note["total"]


async def test_tax_names_per_rate_come_from_the_mapping_and_zero_rates_carry_none(
        fake: FakeFreshBooks, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = make_sink()
    try:
        assert sink.tax_mapping_gaps({("S", Decimal("6.2500")), ("K", Decimal("0.0000"))}) == []
        assert sink.tax_mapping_gaps({("S", Decimal("12.3400"))}) == [
            'INVOICING_FRESHBOOKS_ID_MAP has no entry "tax:S:12.34" (the FreshBooks tax name)']
        ref = await sink.create_invoice(sample_invoice(2), "k-2")  # intra-EU supply: K and AE at 0 %
    finally:
        await sink.close()
    assert all("taxName1" not in ln for ln in fake.created[ref.external_id]["lines"])
    monkeypatch.setenv("INVOICING_FRESHBOOKS_ID_MAP", f'{{"customer:*": "{CLIENT}"}}')
    with pytest.raises(InvoiceRejected, match='"tax:S:19"'):
        await create_once(make_sink(), sample_invoice(7))
