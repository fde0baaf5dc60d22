"""Wave sink against a GraphQL stand-in: exact strings, didSucceed false → rejected, total check, OAuth, secrets."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Callable

import pytest

from invoicing.errors import AuthError, InvoiceRejected
from sinks.delivery import deliver
from sinks.wave import WaveSink
from tests.fakes.targets import wave as fake_wave
from tests.fakes.targets._token_issuer import REFRESH, SECRET
from tests.support import sink_under_test, sample_invoice


@pytest.fixture
def fake(serve: Callable[[fake_wave.WaveFake], fake_wave.WaveFake]) -> fake_wave.WaveFake:
    return serve(fake_wave.make_fake())


def make_sink() -> WaveSink:
    return sink_under_test(WaveSink)


async def test_body_is_exact(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(61, targets=("wave",))
    sink = make_sink()
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
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
    sink = make_sink()
    inv = sample_invoice(63, targets=("wave",))
    try:
        with pytest.raises(InvoiceRejected, match="no salesTaxId"):
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert not fake.requests


async def test_total_mismatch_deletes_and_parks(fake: fake_wave.WaveFake) -> None:
    inv = sample_invoice(64, targets=("wave",))
    inv["total"] += Decimal("0.01")
    sink = make_sink()
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "PARKED" and "invoice deleted" in (result.detail or "") and not fake.created


async def test_token_refresh_on_401_and_before_expiry(fake: fake_wave.WaveFake) -> None:
    sink = make_sink()
    try:
        await deliver(sink, sample_invoice(65, targets=("wave",)), sink.pipeline)
        fake.tokens.revoke()
        r = await deliver(sink, sample_invoice(66, targets=("wave",)), sink.pipeline)
        assert r.status == "DELIVERED" and fake.tokens.issued == 2
        sink.auth.cache.expires_at = time.monotonic() + 5
        seen = len(fake.requests)
        await deliver(sink, sample_invoice(67, targets=("wave",)), sink.pipeline)
    finally:
        await sink.close()
    assert fake.tokens.issued == 3 and fake.requests[seen].path == "/oauth2/token/"


async def test_secrets_never_in_errors(fake: fake_wave.WaveFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_WAVE_REFRESH_TOKEN", "wave-stale-refresh-7777")
    sink = make_sink()
    inv = sample_invoice(68, targets=("wave",))
    try:
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    for secret in ("wave-stale-refresh-7777", SECRET, REFRESH):
        assert secret not in str(err.value)
