"""WooCommerce: the creation ping, status filtering, dedupe on order id + status, thin action fetch."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from infra.broker import ensure_topics
from domain.errors import FetchError, IgnoredEvent
from domain.exact import dumps_exact
from demo.samples import settings_env, woocommerce as sample
from domain.settings import platform_settings
from sources.base import InboundRequest
from sources.woocommerce import WooCommerce, WooCommerceSettings
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import running_gateway, topic_size, unique_settings

SECRET = "wc-webhook-secret-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> WooCommerce:
    for k, v in settings_env("woocommerce", SECRET).items():
        monkeypatch.setenv(k, v)
    if base_url:
        monkeypatch.setenv("INVOICING_WOOCOMMERCE_BASE_URL", base_url)
    return WooCommerce(platform_settings("woocommerce", WooCommerceSettings))


def _in(req: sample.SampleRequest) -> InboundRequest:
    return InboundRequest("POST", req.path, req.query, {k.lower(): v for k, v in req.headers.items()}, req.body)


def _updated(n: int, status: str, delivery: int = 1) -> sample.SampleRequest:
    doc = sample.order_document(n, status)
    return sample.webhook("order.updated", dumps_exact(doc).encode(), SECRET, delivery)


async def test_ping_is_answered_without_publishing(bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    source = _source(monkeypatch)
    ping = sample.ping()
    async with running_gateway(settings, bootstrap, {"woocommerce": source}) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            ok = await client.post(ping.path, content=ping.body, headers=dict(ping.headers))
            forged = await client.post(ping.path, content=b"webhook_id=17&x=1", headers=dict(ping.headers))
    assert ok.status_code == 200 and forged.status_code == 401
    assert await topic_size(bootstrap, settings.topic("invoicing.raw-events")) == 0


def test_status_filter_and_dedupe_key(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    for status in ("pending", "on-hold", "refunded", "failed"):
        with pytest.raises(IgnoredEvent):
            source.describe(_in(_updated(2, status)))
    first, again = _updated(2, "completed", 1), _updated(2, "completed", 2)
    assert first.headers["X-WC-Webhook-Delivery-ID"] != again.headers["X-WC-Webhook-Delivery-ID"]
    assert source.describe(_in(first)).event_id == source.describe(_in(again)).event_id == "order:7102:completed"
    assert source.describe(_in(_updated(2, "processing"))).event_id == "order:7102:processing"
    thin = sample.order(3, random.Random(3), SECRET).requests[0]
    assert source.describe(_in(thin)).event_id == "order:7103:completed"


def test_processing_with_payment_is_payment_received(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    req = _updated(4, "processing")
    info = source.describe(_in(req))
    raw = {"platform": "woocommerce", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
           "headers": {"x-wc-webhook-topic": "order.updated"}, "body": req.body}
    [event] = source.normalise(raw)
    assert event["trigger"] == "PAYMENT_RECEIVED" and event["amount_paid"] is not None
    doc = sample.order_document(4, "processing")
    doc["date_paid"] = doc["date_paid_gmt"] = None
    with pytest.raises(IgnoredEvent):
        source.describe(_in(sample.webhook("order.updated", dumps_exact(doc).encode(), SECRET, 1)))


async def test_action_fetch_uses_basic_auth_and_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(3, random.Random(3), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = _source(monkeypatch, api.url)
        info = source.describe(_in(order.requests[0]))
        raw = {"platform": "woocommerce", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
               "headers": {"x-wc-webhook-topic": info.event_type}, "body": order.requests[0].body}
        [thin] = source.normalise(raw)
        async with httpx.AsyncClient() as client:
            [event] = await source.fetch(thin, client)
            assert api.requests[-1].headers["authorization"].startswith("Basic ")
            assert event["trigger"] == "SHIPMENT_CONFIRMED" and event["event_id"] == "order:7103:completed"
            api.fail_next = 3
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
    assert err.value.retriable
