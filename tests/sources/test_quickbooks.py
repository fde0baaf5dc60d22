"""QuickBooks Online: CloudEvents and legacy bodies, SalesReceipt/Payment triggers, fetch failures."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError
from demo.samples import quickbooks as sample
from sources.base import InboundRequest
from sources.quickbooks import QuickBooks, changes
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "qbo-verifier-token-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> QuickBooks:
    return source_from_env("quickbooks", monkeypatch, SECRET, base_url=base_url or None)  # type: ignore[no-any-return]


def _in(req: sample.SampleRequest) -> InboundRequest:
    return InboundRequest("POST", req.path, req.query, {k.lower(): v for k, v in req.headers.items()}, req.body)


def _raw(req: sample.SampleRequest, source: QuickBooks) -> dict:
    info = source.describe(_in(req))
    return {"platform": "quickbooks", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": {}, "body": req.body}


def test_cloudevents_and_legacy_read_the_same() -> None:
    ce = changes(json.dumps([sample.cloudevent("salesreceipt", "created", "146", 1)]).encode())
    legacy = changes(sample.legacy_body([{"name": "SalesReceipt", "id": "146", "operation": "Create",
                                          "lastUpdated": "2026-11-23T10:00:00-0800"}]))
    for c in (ce[0], legacy[0]):
        assert (c["entity"], c["op"], c["id"], c["realm"]) == ("salesreceipt", "create", "146", sample.REALM)


def test_non_trigger_events_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    for ev in (sample.cloudevent("invoice", "created", "9", 1), sample.cloudevent("customer", "updated", "3", 1),
               sample.cloudevent("salesreceipt", "updated", "4", 1)):
        req = sample.signed(json.dumps([ev]).encode(), SECRET, NOW)
        source.verify(_in(req))
        with pytest.raises(IgnoredEvent):
            source.describe(_in(req))
    with pytest.raises(PayloadError):
        source.describe(_in(sample.signed(b'{"something": "else"}', SECRET, NOW)))


async def test_payment_settles_the_linked_invoice(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(3, random.Random(3), SECRET)  # odd: payment, legacy body
    with FakePlatformAPI(routes=order.api) as api:
        source = _source(monkeypatch, api.url)
        [thin] = source.normalise(_raw(order.requests[0], source))
        assert thin.resource == "payment"
        async with httpx.AsyncClient() as client:
            [event] = await source.fetch(thin, client)
        paths = [r.path for r in api.requests]
    assert event["trigger"] == "PAYMENT_RECEIVED" and event["event_id"].endswith(":" + event["external_order_id"])
    assert event["order_key"] == order.expected.order_key and event["customer"]["address"]["country"] == "US"
    assert any("/payment/" in p for p in paths) and any("/invoice/" in p for p in paths)
    assert all("minorversion=75" in p for p in paths if p.startswith("/v3/"))


async def test_partial_payment_is_not_a_payment_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(3, random.Random(3), SECRET)
    inv = sample.transaction(3, "Invoice")
    inv["Balance"] = sample.Decimal("100.00")
    key = next(k for k in order.api if "/invoice/" in k)
    with FakePlatformAPI(routes={**order.api, key: sample._answer("Invoice", inv)}) as api:
        source = _source(monkeypatch, api.url)
        [thin] = source.normalise(_raw(order.requests[0], source))
        async with httpx.AsyncClient() as client:
            [event] = await source.fetch(thin, client)
    assert event["trigger"] == "ORDER_UPDATED"


async def test_fetch_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(2, random.Random(2), SECRET)
    routes = {k: v for k, v in order.api.items() if "token" in k}  # the receipt is not there yet / API down
    with FakePlatformAPI(routes=routes, fail_next=0) as api:
        source = _source(monkeypatch, api.url)
        [thin] = source.normalise(_raw(order.requests[0], source))
        api.fail_next, api.fail_status = 5, 503
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
    assert err.value.retriable
