"""NetSuite sink against the local NetSuite stand-in."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from sinks.netsuite import NetSuiteSink, external_id_for
from tests.fakes.targets._token_issuer import SECRET
from tests.fakes.targets.netsuite import ID_MAP, FakeNetSuite, problem
from sinks.delivery import deliver
from tests.support import create_once, find_once, sample_invoice, sink_under_test


SINK = NetSuiteSink


def make_sink() -> NetSuiteSink:
    return sink_under_test(SINK, quick_retries=False)


def test_external_id_uses_only_allowed_characters() -> None:
    assert external_id_for("inv_3c5e.98/67 f") == "inv-inv_3c5e-98-67-f"


async def test_body_maps_lines_tax_currency_customer_and_number_exactly(fake: FakeNetSuite) -> None:
    inv = sample_invoice(7)
    ref = await create_once(make_sink(), inv)
    eid = external_id_for(inv["invoice_id"])
    body: dict[str, Any] = fake.created[eid]
    assert ref.external_id == fake.by_eid[eid]
    put = [r for r in fake.requests if r.method == "PUT"][0]
    assert put.path.endswith(f"/invoice/eid:{eid}")
    assert body["tranId"] == inv["number"] and body["externalId"] == eid
    assert body["entity"] == {"id": "1042"} and body["currency"] == {"id": "1"}
    assert body["tranDate"] == "2026-11-24" and body["dueDate"] == inv["due_date"].isoformat()
    items = body["item"]["items"]
    assert [i["amount"] for i in items] == [ln["net_amount"] for ln in inv["lines"]]
    assert [i["rate"] for i in items] == [ln["unit_price"] for ln in inv["lines"]]
    assert [i["quantity"] for i in items] == [ln["quantity"] for ln in inv["lines"]]
    assert sum(i["amount"] for i in items) == inv["line_total"]
    taxes = body["taxDetails"]["items"]
    assert sum(t["taxAmount"] for t in taxes) == inv["tax_total"] == Decimal("8032.10")
    assert all(t["taxCode"] == {"id": "5"} and t["taxRate"] == Decimal("19") for t in taxes)
    assert b'"amount":34450.00' in put.body.replace(b" ", b"")  # JSON numbers, exact, not strings


async def test_token_refreshed_once_on_401(fake: FakeNetSuite) -> None:
    inv = sample_invoice(12)
    sink = make_sink()
    try:
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        fake.tokens.revoke()  # NetSuite revoked the token early: 401, refresh, replay
        ref = await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert fake.tokens.issued == 2 and ref.external_id
    assert fake.tokens.scopes[-1] == "rest_webservices"


async def test_concurrency_limit_400_is_retriable(fake: FakeNetSuite) -> None:
    inv = sample_invoice(13)
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])  # token first
        fake.fail(400, body=problem(400, "Request limit exceeded.", "SSS_REQUEST_LIMIT_EXCEEDED"))
        with pytest.raises(RetriableSinkError, match="concurrency"):
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()


async def test_validation_error_parks_with_netsuite_message(fake: FakeNetSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_NETSUITE_ID_MAP", json.dumps(json.loads(ID_MAP) | {"item:*": "x"}))
    inv = sample_invoice(14)
    with pytest.raises(InvoiceRejected, match="INVALID_FLD_VALUE: item.items.0.item.id: 'x' does not match"):
        await create_once(make_sink(), inv)
    assert not fake.created


async def test_missing_tax_mapping_is_rejected_before_any_call(fake: FakeNetSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_NETSUITE_ID_MAP", '{"customer:*": "1", "item:*": "2", "currency:*": "1"}')
    inv = sample_invoice(7)
    with pytest.raises(InvoiceRejected, match='"tax:S:19"'):
        await create_once(make_sink(), inv)


async def test_netsuite_sales_order_is_transformed(fake: FakeNetSuite) -> None:
    inv = dict(sample_invoice(15), orders=["netsuite:5001"], lineage=[])
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        again = await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    post = [r for r in fake.requests if r.path.endswith("/salesOrder/5001/!transform/invoice")]
    assert len(post) == 1 and again == ref
    assert fake.sales_orders["5001"]["status"] == "fullyBilled"


async def test_secrets_never_in_errors(fake: FakeNetSuite) -> None:
    inv = sample_invoice(16)
    fake.fail(401, times=3)
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert SECRET not in str(err.value) and "tok-" not in str(err.value)


async def test_credit_memo_is_applied_to_the_invoice_in_the_same_upsert(fake: FakeNetSuite) -> None:
    inv = sample_invoice(22, targets=("netsuite",))
    note = sample_invoice(22, targets=("netsuite",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = str((await deliver(sink, inv, sink.pipeline)).external_id)
        result = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (result.status, again.status) == ("DELIVERED", "ALREADY_PRESENT")
    assert again.external_id == result.external_id
    eid = external_id_for(note["invoice_id"])
    (put,) = [r for r in fake.requests if r.method == "PUT" and "/creditMemo/" in r.path]
    assert put.path.endswith(f"/creditMemo/eid:{eid}")
    body = fake.memos[eid]
    assert body["apply"] == {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": note["total"]}]}
    assert body["tranId"] == note["number"] and body["otherRefNum"] == inv["number"]
    assert sum(d["taxAmount"] for d in body["taxDetails"]["items"]) == note["tax_total"]
    assert fake.records[invoice_id]["amountRemaining"] == inv["total"] - note["total"]
    assert fake.booked[str(result.external_id)].linked_to == invoice_id


async def test_credit_memo_applies_no_more_than_the_invoice_still_owes(fake: FakeNetSuite) -> None:
    inv = sample_invoice(25, targets=("netsuite",))
    note = sample_invoice(25, targets=("netsuite",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = str((await deliver(sink, inv, sink.pipeline)).external_id)
        fake.records[invoice_id]["amountRemaining"] = Decimal("1000.00")  # the customer paid the rest
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    memo = fake.records[str(result.external_id)]
    assert memo["apply"]["items"][0]["amount"] == Decimal("1000.00")
    assert memo["unapplied"] == note["total"] - Decimal("1000.00")
    assert fake.records[invoice_id]["amountRemaining"] == 0


async def test_credit_memo_for_a_paid_invoice_stays_customer_credit(fake: FakeNetSuite) -> None:
    inv = sample_invoice(26, targets=("netsuite",))
    note = sample_invoice(26, targets=("netsuite",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        invoice_id = str((await deliver(sink, inv, sink.pipeline)).external_id)
        fake.records[invoice_id]["amountRemaining"] = Decimal(0)
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    memo = fake.records[str(result.external_id)]
    assert "apply" not in memo and memo["unapplied"] == note["total"] and memo["otherRefNum"] == inv["number"]


async def test_credit_memo_upserted_before_a_crash_is_found_not_repeated(fake: FakeNetSuite) -> None:
    inv = sample_invoice(27, targets=("netsuite",))
    note = sample_invoice(27, targets=("netsuite",), document_type="CREDIT_NOTE")
    sink = make_sink()
    try:
        original = await sink.create_invoice(inv, inv["invoice_id"])
        first = await sink.create_credit_note(note, note["invoice_id"], original)  # accepted; the worker died
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "ALREADY_PRESENT" and result.external_id == first.external_id
    assert len(fake.memos) == 1
    assert fake.records[original.external_id]["amountRemaining"] == inv["total"] - note["total"]


def test_tax_codes_are_mapped_per_category_and_rate_without_a_wildcard(fake: FakeNetSuite,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_NETSUITE_ID_MAP", '{"customer:*": "1", "item:*": "2", "tax:*": "5", "tax:S:19": "5"}')
    sink = make_sink()
    gaps = sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000")), ("S", Decimal("12.34"))})
    assert gaps == ['INVOICING_NETSUITE_ID_MAP has no entry "tax:K:0" (the tax code\'s internal id)',
                    'INVOICING_NETSUITE_ID_MAP has no entry "tax:S:12.34" (the tax code\'s internal id)']


async def test_line_tax_shares_make_netsuite_book_our_group_tax(fake: FakeNetSuite) -> None:
    inv = sample_invoice(4, targets=("netsuite",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    ref = await create_once(make_sink(), inv)
    details = fake.created[external_id_for(inv["invoice_id"])]["taxDetails"]["items"]
    assert sorted(d["taxAmount"] for d in details) == [Decimal("0.02"), Decimal("0.02"), Decimal("0.03")]
    assert fake.booked[ref.external_id].tax == inv["tax_total"] == Decimal("0.07")
