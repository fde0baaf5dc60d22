"""Stripe source: signature variants, SDK cross-check, minor units, order key."""
from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import stripe as stripe_sdk

from domain.errors import IgnoredEvent, SignatureError
from demo.samples import settings_env
from demo.samples import stripe as samples
from domain.settings import platform_settings
from sources.base import InboundRequest
from sources.stripe import Stripe

SECRET = "whsec_test_5f0c3b1a9e8d7c6b5a4f3e2d1c0b9a88"


def make(monkeypatch: pytest.MonkeyPatch) -> Stripe:
    for k, v in settings_env("stripe", SECRET).items():
        monkeypatch.setenv(k, v)
    return Stripe(platform_settings("stripe", Stripe.settings_class))


def inbound(body: bytes, headers: dict[str, str]) -> InboundRequest:
    return InboundRequest("POST", "/webhooks/stripe", "", {k.lower(): v for k, v in headers.items()}, body)


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "stripe", "event_type": "invoice.payment_succeeded", "event_id": "x",
            "received_at": datetime.now(timezone.utc), "headers": {}, "body": body}


@pytest.mark.parametrize("n", range(6))
def test_stripe_sdk_agrees_with_our_verifier(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    req = samples.order(n, random.Random(n), SECRET, datetime.now(timezone.utc)).requests[0]
    header = req.headers["Stripe-Signature"]
    make(monkeypatch).verify(inbound(req.body, dict(req.headers)))
    assert stripe_sdk.WebhookSignature.verify_header(req.body.decode(), header, SECRET, tolerance=300)
    event = stripe_sdk.Webhook.construct_event(req.body, header, SECRET)
    assert event.type == "invoice.payment_succeeded"
    assert event.data.object.object == "invoice"
    # and the other way round: a header the SDK generates passes our verifier
    sdk_header = stripe_sdk.WebhookSignature.generate_signature_header(req.body.decode(), SECRET)
    make(monkeypatch).verify(inbound(req.body, {"Stripe-Signature": sdk_header}))
    with pytest.raises(stripe_sdk.SignatureVerificationError):
        stripe_sdk.WebhookSignature.verify_header(req.body.decode(), header, "whsec_other", tolerance=300)


def test_any_matching_v1_passes_and_v0_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    body = b'{"id":"evt_1","object":"event"}'
    good = samples.sign_stripe(body, SECRET, datetime.now(timezone.utc))
    t, v1 = good.split(",")
    source.verify(inbound(body, {"Stripe-Signature": f"{t},v1={'0' * 64},{v1}"}))  # secret roll: two v1
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {"Stripe-Signature": f"{t},v0={v1[3:]}"}))
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {"Stripe-Signature": v1}))  # no t=
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {}))


def test_timestamp_tolerance_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    body = b'{"id":"evt_1","object":"event"}'
    now = datetime.now(timezone.utc)
    source.verify(inbound(body, {"Stripe-Signature": samples.sign_stripe(body, SECRET, now - timedelta(seconds=250))}))
    for when in (now - timedelta(seconds=301), now + timedelta(minutes=10)):
        with pytest.raises(SignatureError):
            source.verify(inbound(body, {"Stripe-Signature": samples.sign_stripe(body, SECRET, when)}))


def test_the_timestamp_is_part_of_the_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"id":"evt_1","object":"event"}'
    header = samples.sign_stripe(body, SECRET, datetime.now(timezone.utc))
    t, v1 = header.split(",")
    forged = f"t={int(time.time()) - 1},{v1}"
    with pytest.raises(SignatureError):
        make(monkeypatch).verify(inbound(body, {"Stripe-Signature": forged}))


@pytest.mark.parametrize("event_type", ["invoice.paid", "payment_intent.succeeded", "checkout.session.completed", "customer.created"])
def test_other_event_types_are_ignored(event_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.stripe_event(1, random.Random(1))
    doc["type"] = event_type
    body = json.dumps(doc).encode()
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


def test_minor_units_and_tax_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    eur = samples.stripe_event(0, random.Random(0))  # Brauerei Albrecht, DE, 19 %
    ev = source.normalise(raw_of(json.dumps(eur).encode()))[0]
    inv = eur["data"]["object"]  # type: ignore[index]
    assert ev["currency"] == "EUR"
    assert ev["announced_total"] == Decimal(inv["total"]) / 100
    assert all(isinstance(line["unit_price"], Decimal) for line in ev["lines"])
    assert ev["lines"][0]["tax_rate"] == Decimal("19.00")
    assert ev["lines"][0]["unit_price"] == Decimal("6890.00")  # CATALOGUE[0]
    jpy = samples.stripe_event(8, random.Random(8))  # the Tokyo customer pays in JPY (no minor unit)
    ev = source.normalise(raw_of(json.dumps(jpy).encode()))[0]
    assert ev["currency"] == "JPY"
    item = jpy["data"]["object"]["lines"]["data"][0]  # type: ignore[index]
    assert ev["lines"][0]["unit_price"] == Decimal(item["pricing"]["unit_amount_decimal"])
    assert ev["lines"][0]["tax_rate"] is None


def test_order_ref_metadata_links_the_order_across_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.stripe_event(2, random.Random(2), order_ref="shopify:5800000000002")
    ev = make(monkeypatch).normalise(raw_of(json.dumps(doc).encode()))[0]
    assert ev["order_key"] == "shopify:5800000000002"
    assert ev["external_order_id"].startswith("in_")


def test_no_secret_fails_closed() -> None:
    source = Stripe(platform_settings("stripe", Stripe.settings_class))
    req = samples.order(1, random.Random(1), SECRET, datetime.now(timezone.utc)).requests[0]
    with pytest.raises(SignatureError):
        source.verify(inbound(req.body, dict(req.headers)))
