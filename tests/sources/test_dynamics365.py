"""Dataverse webhooks: header key or ?code=, statecode Fulfilled/Canceled, OAuth2 fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from demo.samples import dynamics365 as samples
from sources.base import InboundRequest, ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)
ORDER_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def raw_of(req: Any, source: Any) -> dict[str, Any]:
    info = source.describe(inbound(req))
    return {"platform": "dynamics365", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": {}, "body": req.body}


def test_webhook_key_in_query_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("dynamics365", monkeypatch)
    body = json.dumps(samples.context(ORDER_ID, 3, 100003, "op-1", NOW)).encode()
    source.verify(InboundRequest("POST", "/webhooks/dynamics365", f"code={SECRET}", {}, body))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/dynamics365", "code=nope", {}, body))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/dynamics365", "", {}, body))


@pytest.mark.parametrize(("state", "trigger"), [(3, "SHIPMENT_CONFIRMED"), (2, "ORDER_CANCELLED"), (0, None), (1, None), (4, None)])
def test_statecode_mapping(state: int, trigger: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("dynamics365", monkeypatch)
    req = samples.signed(json.dumps(samples.context(ORDER_ID, state, 1, f"op-{state}", NOW)).encode(), SECRET, NOW)
    if trigger is None:
        with pytest.raises(IgnoredEvent):
            source.describe(inbound(req))
        return
    thin = source.normalise(raw_of(req, source))
    assert isinstance(thin[0], ThinEvent) and thin[0].trigger == trigger and thin[0].resource_id == ORDER_ID


def test_other_entities_ignored_and_garbage_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("dynamics365", monkeypatch)
    ctx = {**samples.context(ORDER_ID, 3, 100003, "op-9", NOW), "PrimaryEntityName": "quote"}
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(samples.signed(json.dumps(ctx).encode(), SECRET, NOW)))
    bad = {**ctx, "PrimaryEntityId": "not-a-guid"}
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(json.dumps(bad).encode(), SECRET, NOW)))


async def test_fetch_uses_oauth_and_failures_are_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(4, random.Random(4), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source("dynamics365", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            events = await source.fetch(thin, client)
            assert events[0]["trigger"] == "SHIPMENT_CONFIRMED" and events[0]["shipping"] > 0
            got = api.requests[-1]
            assert got.headers["authorization"].startswith("Bearer ") and "scope" not in got.path
            api.fail_next, api.fail_status = 1, 503
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
            api.fail_next, api.fail_status = 1, 404
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert not err.value.retriable
