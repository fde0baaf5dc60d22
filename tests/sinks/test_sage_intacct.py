"""Sage Intacct sink against the REST stand-in: mapping, OAuth2 refresh, errors with Intacct's own words."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected
from sinks.sage_intacct import SageIntacctSink
from tests.fakes.target_base import Booked
from tests.fakes.targets.sage_intacct import CLIENT_SECRET, USERNAME, SageIntacctFake, ia_error
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test, deliver_invoice_and_note


SINK = SageIntacctSink


def make_sink() -> SageIntacctSink:
    return sink_under_test(SINK)


async def test_ar_invoice_body_is_exact(fake: SageIntacctFake) -> None:
    inv = sample_invoice(7, targets=("sage-intacct",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    body = fake.created[result.external_id]
    assert body["invoiceNumber"] == inv["number"]
    assert body["customer"] == {"id": inv["customer_id"]} and inv["customer_id"] in fake.customers
    assert body["currency"] == {"txnCurrency": "EUR"}
    assert (body["invoiceDate"], body["dueDate"]) == ("2026-11-24", "2026-12-24")
    assert all(ln["glAccount"]["id"] == "4000" for ln in body["lines"])  # no tax booked as a GL line
    assert [Decimal(ln["txnAmount"]) for ln in body["lines"]] == [ln["net_amount"] for ln in inv["lines"]]
    assert [ln["txnAmount"] for ln in body["lines"]][0] == "34450.00"  # a decimal string, as Intacct documents
    entries = [e for ln in body["lines"] for e in ln["taxEntries"]]
    assert {(e["orderEntryTaxDetail"]["id"], e["taxRate"]) for e in entries} == {("DE Sales 19", Decimal("19.00"))}
    assert sum(Decimal(e["txnTaxAmount"]) for e in entries) == inv["tax_total"]
    assert Decimal(body["totalTxnAmount"]) == inv["total"]
    assert fake.booked[result.external_id] == Booked("invoice", inv["total"], inv["tax_total"])
    assert fake.token_requests[0]["grant_type"] == "client_credentials"
    assert fake.token_requests[0]["username"] == USERNAME


async def test_token_is_refreshed_on_401_and_shared(fake: SageIntacctFake) -> None:
    inv = sample_invoice(9, targets=("sage-intacct",))
    sink, other = make_sink(), make_sink()
    try:
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        assert await other.find_invoice(inv, inv["invoice_id"]) is None
        assert len(fake.token_requests) == 1  # one token per tenant, shared by both sinks
        fake.revoke_tokens()  # Intacct expired it early
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
    finally:
        await sink.close()
        await other.close()
    assert len(fake.token_requests) == 2
    statuses = [r.path.rsplit("/", 1)[-1] for r in fake.requests]
    assert statuses.count("token") == 2


async def test_token_is_refreshed_before_it_expires(fake: SageIntacctFake) -> None:
    inv = sample_invoice(9, targets=("sage-intacct",))
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        sink.auth.cache.expires_at = time.monotonic() + 30  # inside the refresh margin
        await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert len(fake.token_requests) == 2
    assert not any(r.headers.get("authorization") is None for r in fake.requests if "query" in r.path)


async def test_refused_credentials_never_show_the_secret(fake: SageIntacctFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SAGE_INTACCT_CLIENT_SECRET", "wrong-" + CLIENT_SECRET)
    inv = sample_invoice(9, targets=("sage-intacct",))
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert CLIENT_SECRET not in str(err.value) and "token endpoint" in str(err.value)


async def test_validation_error_is_parked_with_intacct_details(fake: SageIntacctFake) -> None:
    inv = sample_invoice(7, targets=("sage-intacct",))
    sink = make_sink()
    fake_reply = ia_error(422, "Operation create object accounts-receivable/invoice failed",
                          [{"code": "invalidValue", "message": "GL account 4000 is inactive"}])
    try:
        await sink.find_invoice(inv, inv["invoice_id"])  # token + query
        await sink._customer(inv)
        fake.fail(422, body=fake_reply.body)
        with pytest.raises(InvoiceRejected, match=r"operationFailed: .*GL account 4000 is inactive"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert not fake.created


async def test_an_error_inside_a_200_is_not_read_as_not_found(fake: SageIntacctFake) -> None:
    inv = sample_invoice(7, targets=("sage-intacct",))
    sink = make_sink()
    nested = {"ia::result": {"ia::error": {"code": "invalidRequest", "message": "invoiceNumber cannot be used in query"}}}
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(200, body=nested)
        with pytest.raises(InvoiceRejected, match="cannot be used in query"):
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_credit_note_is_an_ar_adjustment_against_intaccts_invoice(fake: SageIntacctFake) -> None:
    inv = sample_invoice(4, targets=("sage-intacct",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    note = sample_invoice(4, targets=("sage-intacct",), lines=[("KS-FLT-01", "1", "0.13")] * 3, document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    adj = fake.adjustments[credited.external_id]
    assert (adj["adjustmentNumber"], adj["documentNumber"]) == (note["number"], inv["number"])
    assert [ln["txnCurrency"]["amount"] for ln in adj["lines"]] == ["-0.13"] * 3  # a credit memo: negative amounts
    assert [ln["taxEntries"][0]["txnTaxAmount"] for ln in adj["lines"]] == ["-0.03", "-0.02", "-0.02"]  # 0.07, as issued
    assert fake.booked[credited.external_id] == Booked("credit_note", note["total"], Decimal("0.07"), first.external_id)
    query = [r.json() for r in fake.requests if r.path.endswith("/query") and b"adjustment" in r.body][0]
    assert query["filters"] == [{"$eq": {"adjustmentNumber": note["number"]}}]


async def test_an_unmapped_tax_detail_is_named_and_nothing_is_sent(fake: SageIntacctFake,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SAGE_INTACCT_TAX_DETAILS", '{"S:19": "DE Sales 19"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("G", Decimal("0.0000"))}) == [
        'INVOICING_SAGE_INTACCT_TAX_DETAILS has no entry "G:0" (the Order Entry tax detail id)']
    result = await deliver_once(sink, sample_invoice(3, targets=("sage-intacct",)))  # an export, G 0 %
    assert result.status == "PARKED" and 'no entry "G:0"' in (result.detail or "")
    assert not fake.created
