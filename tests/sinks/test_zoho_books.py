"""Zoho Books sink against the local Zoho Books stand-in: body, tax ids per (category, rate), credit notes
credited to the invoice."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.delivery import deliver
from sinks.zoho_books import ZohoBooksSink, to_zoho_credit_note
from tests.fakes.targets._token_issuer import REFRESH, SECRET
from tests.fakes.targets.zoho_books import CUSTOMER, ORG, FakeZohoBooks
from tests.support import create_once, sample_invoice, sink_under_test


SINK = ZohoBooksSink


def make_sink() -> ZohoBooksSink:
    return sink_under_test(SINK, quick_retries=False)


async def test_body_maps_our_number_lines_and_tax_exactly(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(7)
    ref = await create_once(make_sink(), inv)
    post = [r for r in fake.requests if r.method == "POST" and r.path == "/books/v3/invoices"][0]
    assert post.query == {"organization_id": ORG, "ignore_auto_number_generation": "true"}
    assert post.headers["authorization"].startswith("Zoho-oauthtoken tok-")
    stored = fake.created[ref.external_id]
    assert stored["invoice_number"] == inv["number"] and stored["customer_id"] == CUSTOMER
    assert stored["date"] == "2026-11-24"
    assert [ln["rate"] for ln in stored["line_items"]] == [ln["unit_price"] for ln in inv["lines"]]
    assert [ln["quantity"] for ln in stored["line_items"]] == [ln["quantity"] for ln in inv["lines"]]
    assert {ln["tax_id"] for ln in stored["line_items"]} == {"982000000567001"}
    assert stored["sub_total"] == inv["line_total"] and stored["tax_total"] == inv["tax_total"]
    assert stored["total"] == inv["total"] == Decimal("50306.30")
    assert b'"rate": 6890.00' in post.body  # a JSON number, exact


async def test_code_not_zero_is_an_error_even_with_http_200(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(17)
    sink = make_sink()
    try:
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        fake.fail(200, body={"code": 1002, "message": "Invoice does not exist."}, times=1)
        with pytest.raises(InvoiceRejected, match="Zoho code 1002: Invoice does not exist"):
            await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(429, body={"code": 44, "message": "Too many requests."}, retry_after=7)
        with pytest.raises(RetriableSinkError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
        assert err.value.retry_after == 7
    finally:
        await sink.close()


async def test_duplicate_number_after_a_crash_resolves_to_the_existing_invoice(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(18)
    first, second = make_sink(), make_sink()
    try:
        ref = await first.create_invoice(inv, inv["invoice_id"])
        again = await second.create_invoice(inv, inv["invoice_id"])  # no look-up first: Zoho says 1001
    finally:
        await first.close()
        await second.close()
    assert again == ref and len(fake.created) == 1


async def test_token_refreshed_on_401_and_secrets_absent(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(19)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.tokens.revoke()
        await sink.create_invoice(inv, inv["invoice_id"])
        assert fake.tokens.issued == 2
        fake.tokens.refresh_token = "rotated-elsewhere"  # refresh now refused
        fake.tokens.revoke()
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    text = str(err.value)
    assert SECRET not in text and REFRESH not in text and "tok-" not in text


async def test_missing_tax_mapping_rejected(fake: FakeZohoBooks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_ZOHO_BOOKS_ID_MAP", f'{{"customer:*": "{CUSTOMER}"}}')
    inv = sample_invoice(7)
    with pytest.raises(InvoiceRejected, match="INVOICING_ZOHO_BOOKS_ID_MAP"):
        await create_once(make_sink(), inv)
    assert not fake.created


async def test_credit_note_is_credited_to_the_sent_invoice_once(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(44, targets=("zoho-books",))
    note = sample_invoice(44, targets=("zoho-books",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = (await deliver(sink, inv, sink.pipeline)).external_id
        first = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (first.status, again.status) == ("DELIVERED", "ALREADY_PRESENT") and first.external_id == again.external_id
    invoice = fake.invoices[str(invoice_id)]
    assert invoice["status"] == "sent" and invoice["balance"] == 0
    stored = fake.creditnotes[str(first.external_id)]
    assert stored["creditnote_number"] == note["number"] and stored["reference_number"] == inv["number"]
    assert [c["invoice_id"] for c in stored["credited"]] == [invoice_id]
    assert stored["tax_total"] == note["tax_total"] and stored["total"] == note["total"]
    create = next(r for r in fake.requests if r.method == "POST" and r.path == "/books/v3/creditnotes")
    assert create.query == {"organization_id": ORG, "ignore_auto_number_generation": "true"}


async def test_credit_note_created_before_a_crash_is_reused_and_credited_once(fake: FakeZohoBooks) -> None:
    inv = sample_invoice(45, targets=("zoho-books",))
    note = sample_invoice(45, targets=("zoho-books",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        await deliver(sink, inv, sink.pipeline)
        await sink._call("POST", "/creditnotes", "crash", to_zoho_credit_note(note, sink.settings),
                         ignore_auto_number_generation="true")  # Zoho took it; the worker died before crediting
        assert await sink.find_credit_note(note, note["invoice_id"]) is None
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED" and len(fake.creditnotes) == 1
    assert fake.booked[str(result.external_id)].linked_to is not None


async def test_every_category_and_rate_needs_its_tax_id(fake: FakeZohoBooks, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = make_sink()
    try:
        assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("G", Decimal("0.0000"))}) == []
        monkeypatch.setenv("INVOICING_ZOHO_BOOKS_ID_MAP", f'{{"customer:*": "{CUSTOMER}", "tax:*": "982000000567001"}}')
        blind = make_sink()
        assert blind.tax_mapping_gaps({("G", Decimal("0.0000"))}) == [
            'INVOICING_ZOHO_BOOKS_ID_MAP has no entry "tax:G:0" (the Zoho tax_id of that tax)'], "no wildcard tax"
        with pytest.raises(InvoiceRejected, match='"tax:G:0"'):
            await blind.create_invoice(sample_invoice(3), "k-3")
        await blind.close()
    finally:
        await sink.close()
    assert not fake.created
