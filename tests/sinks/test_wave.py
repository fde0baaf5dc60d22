"""Wave sink against a GraphQL stand-in: exact strings, didSucceed false → rejected, total check.

OAuth refresh and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvoiceRejected
from sinks.wave import WaveSink
from tests.fakes.targets import wave as fake_wave
from tests.support import create_once, deliver_once, sample_invoice, sink_under_test


SINK = WaveSink


def make_sink() -> WaveSink:
    return sink_under_test(SINK)


async def test_body_is_exact(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(61, targets=("wave",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["invoiceNumber"] == inv["number"] and doc["total"]["currency"]["code"] == inv["currency"]
    assert (doc["invoiceDate"], doc["dueDate"]) == (inv["issue_date"].isoformat(), inv["due_date"].isoformat())
    assert Decimal(doc["subtotal"]["value"]) == inv["tax_exclusive_total"]
    assert Decimal(doc["taxTotal"]["value"]) == inv["tax_total"] and Decimal(doc["total"]["value"]) == inv["total"]
    assert all(isinstance(i["unitPrice"], str) and isinstance(i["quantity"], str) for i in doc["items"])
    assert doc["items"][0]["taxes"] == [{"salesTaxId": fake_wave.SALES_TAX}]


async def test_did_succeed_false_is_rejected_with_wave_messages(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(62, targets=("wave",))
    sink = make_sink()
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
        with pytest.raises(InvoiceRejected, match="Invoice number is already in use.*invoiceNumber"):
            await sink.create_invoice(inv, "other")
    finally:
        await sink.close()
    assert len(fake.created) == 1


async def test_unmapped_tax_is_refused_before_any_call(fake: fake_wave.WaveFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_WAVE_SALES_TAXES", "{}")
    inv = sample_invoice(63, targets=("wave",))
    with pytest.raises(InvoiceRejected, match="no salesTaxId"):
        await create_once(make_sink(), inv)
    assert not fake.requests


async def test_total_mismatch_deletes_and_parks(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(64, targets=("wave",))
    inv["total"] += Decimal("0.01")
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and "invoice deleted" in (result.detail or "") and not fake.created


async def test_zero_rated_lines_send_no_sales_tax_so_the_products_default_stays_off(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(2, targets=("wave",))  # K and AE at 0 %
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert all(item["taxes"] == [] for item in doc["items"])
    assert fake.booked[doc["id"]].tax == 0 and fake.booked[doc["id"]].total == inv["total"]


def test_every_non_zero_rate_needs_a_sales_tax(fake: fake_wave.WaveFake, monkeypatch: pytest.MonkeyPatch) -> None:
    from demo.samples.invoices import demo_reference

    taxes = demo_reference().possible_taxes()
    assert make_sink().tax_mapping_gaps(taxes) == []
    monkeypatch.setenv("INVOICING_WAVE_SALES_TAXES", '{"S:19": "x", "S:4": "y"}')
    assert make_sink().tax_mapping_gaps(taxes) == [f'INVOICING_WAVE_SALES_TAXES has no entry "S:{r}"' for r in ("6.25", "6.5", "7.25")]


async def test_per_item_rounding_that_misses_our_tax_is_refused_before_anything_is_created(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(4, targets=("wave",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    with pytest.raises(InvoiceRejected, match="S:19: 0.06 per item, 0.07 on the group"):
        await create_once(make_sink(), inv)
    assert not fake.requests
