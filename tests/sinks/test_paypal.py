"""PayPal sink against the PayPal stand-in (spec-validated): exact strings, draft→send, number guard, OAuth, secrets."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Callable

import pytest

from invoicing.errors import AuthError, InvoiceRejected
from sinks.delivery import deliver
from sinks.paypal import PayPalSink, to_paypal
from tests.fakes.targets import paypal as fake_paypal
from tests.fakes.targets._token_issuer import SECRET
from tests.support import sink_under_test, sample_invoice


@pytest.fixture
def fake(serve: Callable[[fake_paypal.PayPalFake], fake_paypal.PayPalFake]) -> fake_paypal.PayPalFake:
    return serve(fake_paypal.make_fake())


def make_sink() -> PayPalSink:
    return sink_under_test(PayPalSink)


async def test_body_is_exact_and_sent(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(51, targets=("paypal",))
    sink = make_sink()
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    assert doc["status"] == "SENT" and fake.sends == [doc["id"]]
    d = doc["detail"]
    assert d["invoice_number"] == inv["number"] and d["currency_code"] == inv["currency"]
    assert d["invoice_date"] == inv["issue_date"].isoformat() and d["payment_term"]["due_date"] == inv["due_date"].isoformat()
    assert Decimal(doc["amount"]["value"]) == inv["total"]
    assert Decimal(doc["amount"]["breakdown"]["tax_total"]["value"]) == inv["tax_total"]
    assert Decimal(doc["amount"]["breakdown"]["item_total"]["value"]) == inv["tax_exclusive_total"]
    for it in doc["items"]:
        assert isinstance(it["unit_amount"]["value"], str) and isinstance(it["quantity"], str)
    assert doc["primary_recipients"][0]["billing_info"]["email_address"] == inv["buyer"]["email"]


async def test_draft_left_by_a_crash_is_sent_not_duplicated(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(52, targets=("paypal",))
    sink = make_sink()
    try:
        r = await sink._call("POST", "/v2/invoicing/invoices", "create", to_paypal(inv, sink.settings))
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "ALREADY_PRESENT" and result.external_id == r.json()["id"]
    assert len(fake.created) == 1 and fake.sends == [r.json()["id"]]


async def test_lost_create_response_resolved_by_number(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(53, targets=("paypal",))
    sink = make_sink()
    try:
        first = await sink.create_invoice(inv, inv["invoice_id"])
        again = await sink.create_invoice(inv, inv["invoice_id"])  # DUPLICATE_INVOICE_NUMBER → it is ours
        with pytest.raises(InvoiceRejected, match="DUPLICATE_INVOICE_NUMBER"):
            await sink.create_invoice(dict(inv, invoice_id="someone-else"), "someone-else")
    finally:
        await sink.close()
    assert first.external_id == again.external_id and len(fake.created) == 1 and len(fake.sends) == 1


async def test_total_mismatch_deletes_the_draft_and_parks(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(54, targets=("paypal",))
    inv["tax_total"] += Decimal("0.01")
    inv["total"] += Decimal("0.01")
    sink = make_sink()
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "PARKED" and not result.retriable and "draft deleted" in (result.detail or "")
    assert not fake.created and not fake.sends


async def test_schema_violation_is_rejected_with_paypals_details(fake: fake_paypal.PayPalFake) -> None:
    inv = sample_invoice(55, targets=("paypal",))
    sink = make_sink()
    try:
        body = to_paypal(inv, sink.settings)
        body["items"][0]["unit_amount"]["value"] = 12.5  # a number where the spec wants a string
        with pytest.raises(InvoiceRejected, match="INVALID_REQUEST.*INVALID_PARAMETER_SYNTAX"):
            await sink._call("POST", "/v2/invoicing/invoices", "create", body)
    finally:
        await sink.close()


async def test_token_refresh_on_401_and_before_expiry(fake: fake_paypal.PayPalFake) -> None:
    sink = make_sink()
    try:
        await deliver(sink, sample_invoice(56, targets=("paypal",)), sink.pipeline)
        fake.tokens.revoke()
        r = await deliver(sink, sample_invoice(57, targets=("paypal",)), sink.pipeline)
        assert r.status == "DELIVERED" and fake.tokens.issued == 2
        sink.auth.cache.expires_at = time.monotonic() + 5
        seen = len(fake.requests)
        await deliver(sink, sample_invoice(58, targets=("paypal",)), sink.pipeline)
    finally:
        await sink.close()
    assert fake.tokens.issued == 3 and fake.requests[seen].path == "/v1/oauth2/token"


async def test_secrets_never_in_errors(fake: fake_paypal.PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_PAYPAL_CLIENT_SECRET", "paypal-wrong-secret-4242")
    sink = make_sink()
    inv = sample_invoice(59, targets=("paypal",))
    try:
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert "paypal-wrong-secret-4242" not in str(err.value) and SECRET not in str(err.value)
