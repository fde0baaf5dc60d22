"""Infor CSI sink against the ION gateway + Mongoose stand-in: .ionapi auth, IDO bodies, repair, Mongoose errors."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import AuthError, InvoiceRejected
from sinks.delivery import deliver
from sinks.infor import InforSink
from tests.fakes.target_base import Booked
from tests.fakes.targets.infor import CLIENT_SECRET, SAAK, SASK, InforFake, mongoose_error
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test, deliver_invoice_and_note


SINK = InforSink


def make_sink() -> InforSink:
    return sink_under_test(SINK)


async def test_header_and_distributions_are_exact(fake: InforFake) -> None:
    inv = sample_invoice(7, targets=("infor",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    head = fake.created[result.external_id]
    assert (head["Ref"], head["CustNum"], head["Type"]) == (inv["number"], inv["customer_id"], "I")
    assert (head["InvDate"], head["DueDate"]) == ("20261124 00:00:00.000", "20261224 00:00:00.000")
    assert Decimal(head["Amount"]) == inv["tax_exclusive_total"] and Decimal(head["SalesTax"]) == inv["tax_total"]
    revenue = [d for d in fake.distributions if not d.get("TaxSystem")]
    taxes = [d for d in fake.distributions if d.get("TaxSystem")]
    assert [Decimal(d["Amount"]) for d in revenue] == [ln["net_amount"] for ln in inv["lines"]]
    assert [(d["TaxSystem"], d["TaxCode"], Decimal(d["TaxBasis"]), Decimal(d["Amount"])) for d in taxes] == \
        [("1", "DE19", t["taxable_amount"], t["tax_amount"]) for t in inv["tax_breakdown"]]
    assert all(d["InvNum"] == result.external_id for d in fake.distributions)
    assert fake.booked[result.external_id] == Booked("invoice", inv["total"], inv["tax_total"], None)
    grant = fake.token_requests[0]
    assert (grant["grant_type"], grant["username"], grant["password"]) == ("password", SAAK, SASK)


async def test_header_without_distributions_is_repaired_on_redelivery(fake: InforFake) -> None:
    inv = sample_invoice(9, targets=("infor",))
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        fake.distributions.clear()  # as if the worker died between the two updates
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "ALREADY_PRESENT" and result.external_id == ref.external_id
    assert len(fake.created) == 1 and len(fake.distributions) == len(inv["lines"]) + len(inv["tax_breakdown"])


async def test_token_refreshed_on_401(fake: InforFake) -> None:
    inv = sample_invoice(9, targets=("infor",))
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.revoke_tokens()
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
    finally:
        await sink.close()
    assert len(fake.token_requests) == 2


async def test_mongoose_failure_in_a_200_is_parked_with_its_message(fake: InforFake) -> None:
    inv = sample_invoice(9, targets=("infor",))
    sink = make_sink()
    try:
        await sink.find_invoice(inv, inv["invoice_id"])
        fake.fail(200, body=mongoose_error("Customer C-1001 is on credit hold.").body)
        with pytest.raises(InvoiceRejected, match="MessageCode 16: Customer C-1001 is on credit hold."):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert not fake.created


async def test_bad_service_account_is_auth_error_without_secrets(fake: InforFake, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: object) -> None:
    import json
    from pathlib import Path

    doc = json.loads(Path(fake.ionapi_path).read_text())
    doc["cs"] = "wrong"
    bad = Path(str(tmp_path)) / "bad.ionapi"
    bad.write_text(json.dumps(doc))
    monkeypatch.setenv("INVOICING_INFOR_IONAPI_FILE", str(bad))
    inv = sample_invoice(9, targets=("infor",))
    with pytest.raises(AuthError) as err:
        await find_once(make_sink(), inv)
    assert CLIENT_SECRET not in str(err.value) and SASK not in str(err.value)


async def test_credit_memo_applies_to_csis_invoice_number_not_ours(fake: InforFake) -> None:
    inv = sample_invoice(2, targets=("infor",))
    note = sample_invoice(2, targets=("infor",), document_type="CREDIT_NOTE")
    first, credited, again = await deliver_invoice_and_note(make_sink(), inv, note)
    assert (first.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    memo = fake.created[credited.external_id]
    assert (memo["Type"], memo["Ref"], memo["ApplyToInvNum"]) == ("C", note["number"], first.external_id)
    assert memo["ApplyToInvNum"] != inv["number"] and first.external_id.isdigit()
    assert (Decimal(memo["Amount"]), Decimal(memo["SalesTax"])) == (note["tax_exclusive_total"], note["tax_total"])
    codes = {d["TaxCode"] for d in fake.distributions if d["InvNum"] == credited.external_id and d.get("TaxSystem")}
    assert codes == {"EUIC", "EURC"}  # K and AE: CSI's own codes, each its own tax line
    assert fake.booked[credited.external_id] == Booked("credit_note", note["total"], note["tax_total"], first.external_id)


async def test_an_unmapped_tax_is_named_and_nothing_is_written(fake: InforFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_INFOR_TAX_CODES", '{"S:19": "DE19"}')
    sink = make_sink()
    assert sink.tax_mapping_gaps({("S", Decimal("19.0000")), ("K", Decimal("0.0000"))}) == [
        'INVOICING_INFOR_TAX_CODES has no entry "K:0" (the CSI tax code of that rate)']
    result = await deliver_once(sink, sample_invoice(2, targets=("infor",)))
    assert result.status == "PARKED" and 'no entry "K:0"' in (result.detail or "")
    assert not fake.created and not fake.distributions
