"""Oracle Fusion via OIC: header secret, status mapping, salesOrdersForOrderHub fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import httpx
import pytest

from invoicing.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from invoicing.samples import oracle_fusion as samples
from sources.base import InboundRequest, ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.test_source_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


@pytest.mark.parametrize(("status", "trigger"), [("AWAITING_BILLING", "SHIPMENT_CONFIRMED"), ("CLOSED", "SHIPMENT_CONFIRMED"),
                                                 ("CANCELED", "ORDER_CANCELLED"), ("OPEN", None), ("AWAITING_SHIPPING", None)])
def test_status_mapping(status: str, trigger: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("oracle-fusion", monkeypatch)
    req = samples.signed(json.dumps(samples.event(300000271880001, "520001", status, NOW)).encode(), SECRET, NOW)
    if trigger is None:
        with pytest.raises(IgnoredEvent):
            source.describe(inbound(req))
        return
    info = source.describe(inbound(req))
    thin = source.normalise({"platform": "oracle-fusion", "event_type": info.event_type, "event_id": info.event_id,
                             "received_at": NOW, "headers": {}, "body": req.body})
    assert isinstance(thin[0], ThinEvent) and thin[0].trigger == trigger


def test_auth_and_payload_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("oracle-fusion", monkeypatch)
    body = json.dumps(samples.event(300000271880001, "520001", "CLOSED", NOW)).encode()
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/oracle-fusion", "", {"x-invoicing-token": "x"}, body))
    bad = json.dumps({**samples.event(1, "1", "CLOSED", NOW), "headerId": "1/../../x"}).encode()
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(bad, SECRET, NOW)))


async def test_fetch_with_basic_auth_and_retriable_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(1, random.Random(1), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source("oracle-fusion", monkeypatch, base_url=api.url)
        req = order.requests[0]
        info = source.describe(inbound(req))
        thin = source.normalise({"platform": "oracle-fusion", "event_type": info.event_type, "event_id": info.event_id,
                                 "received_at": NOW, "headers": {}, "body": req.body})[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            ev = (await source.fetch(thin, client))[0]
            assert api.requests[0].headers["authorization"].startswith("Basic ")
            assert ev["customer_ref"].startswith("oracle-fusion:")
            api.fail_next, api.fail_status = 1, 500
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
