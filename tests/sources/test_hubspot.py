"""HubSpot source: v3 signature (cross-checked with hubspot-api-client), stage filter, batches, fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from hubspot.utils.signature import Signature

from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import hubspot as samples
from domain.settings import platform_settings
from sources.base import InboundRequest, ThinEvent
from sources.hubspot import HubSpot
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "5c1f0a2b-9d8e-4f7a-b6c5-d4e3f2a1b0c9"


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> HubSpot:
    return source_from_env("hubspot", monkeypatch, SECRET, **env)  # type: ignore[no-any-return]


def inbound(body: bytes, headers: Any, url: str = "http://10.0.0.7:8080/webhooks/hubspot") -> InboundRequest:
    return InboundRequest("POST", "/webhooks/hubspot", "", {k.lower(): v for k, v in dict(headers).items()}, body, url=url)


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "hubspot", "event_type": "deal.propertyChange", "event_id": "x",
            "received_at": datetime.now(timezone.utc), "headers": {}, "body": body}


@pytest.mark.parametrize("n", range(5))
def test_hubspot_sdk_agrees_with_our_verifier(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    req = samples.order(n, random.Random(n), SECRET, datetime.now(timezone.utc)).requests[0]
    make(monkeypatch).verify(inbound(req.body, req.headers))
    assert Signature.is_valid(signature=req.headers["X-HubSpot-Signature-v3"], client_secret=SECRET,
                              request_body=req.body.decode(), http_uri=samples.WEBHOOK_URL, http_method="POST",
                              signature_version="v3", timestamp=req.headers["X-HubSpot-Request-Timestamp"])
    assert not Signature.is_valid(signature=req.headers["X-HubSpot-Signature-v3"], client_secret="other",
                                  request_body=req.body.decode(), http_uri=samples.WEBHOOK_URL,
                                  signature_version="v3", timestamp=req.headers["X-HubSpot-Request-Timestamp"])
    # a signature the SDK computes passes our verifier
    ts = str(int(datetime.now(timezone.utc).timestamp() * 1000))
    sdk_sig = Signature.get_signature(SECRET, req.body.decode(), "v3", samples.WEBHOOK_URL, "POST", ts)
    make(monkeypatch).verify(inbound(req.body, {"X-HubSpot-Signature-v3": sdk_sig, "X-HubSpot-Request-Timestamp": ts}))


def test_uri_method_and_timestamp_are_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    now = datetime.now(timezone.utc)
    body = b'[{"objectId":1}]'
    ts = int(now.timestamp() * 1000)
    good = {"X-HubSpot-Signature-v3": samples.sign_hubspot(body, SECRET, ts), "X-HubSpot-Request-Timestamp": str(ts)}
    source.verify(inbound(body, good))
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {**good, "X-HubSpot-Request-Timestamp": str(ts + 1)}))
    other_uri = samples.sign_hubspot(body, SECRET, ts, uri="https://elsewhere.example/webhooks/hubspot")
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {**good, "X-HubSpot-Signature-v3": other_uri}))
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {**good, "X-HubSpot-Signature-v3": samples.sign_hubspot(body, SECRET, ts, method="PUT")}))
    old = ts - 301_000
    with pytest.raises(SignatureError):
        source.verify(inbound(body, {"X-HubSpot-Signature-v3": samples.sign_hubspot(body, SECRET, old),
                                     "X-HubSpot-Request-Timestamp": str(old)}))
    with pytest.raises(SignatureError):  # v1 alone is refused: no timestamp, no replay protection
        source.verify(inbound(body, {"X-HubSpot-Signature": "ab" * 32, "X-HubSpot-Signature-Version": "v1"}))


def test_without_a_configured_url_the_observed_url_is_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    monkeypatch.delenv("INVOICING_HUBSPOT_WEBHOOK_URL")
    source = HubSpot(platform_settings("hubspot", HubSpot.settings_class))
    body = b'[{"objectId":1}]'
    ts = int(datetime.now(timezone.utc).timestamp() * 1000)
    url = "https://gw.example/webhooks/hubspot"
    source.verify(inbound(body, {"X-HubSpot-Signature-v3": samples.sign_hubspot(body, SECRET, ts, uri=url),
                                 "X-HubSpot-Request-Timestamp": str(ts)}, url=url))


@pytest.mark.parametrize("stage", ["appointmentscheduled", "contractsent", "closedlost"])
def test_other_stages_and_properties_are_ignored(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [samples.stage_event(1, 42, stage, 1_763_900_000_000),
             {**samples.stage_event(1, 43, "closedwon", 1_763_900_000_000), "propertyName": "amount"}]
    body = json.dumps(batch).encode()
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


def test_custom_pipeline_stage_ids_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps([samples.stage_event(1, 42, "98765432", 1_763_900_000_000)]).encode()
    assert make(monkeypatch, won_stages="closedwon,98765432").describe(inbound(body, {})).event_id == "145872304-42-98765432-1763900000000"


def test_a_batch_with_two_won_deals_gives_two_thin_events_and_a_stable_id(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [samples.stage_event(1, 42, "closedwon", 1_763_900_000_000), samples.stage_event(2, 43, "closedwon", 1_763_900_000_500)]
    source = make(monkeypatch)
    info = source.describe(inbound(json.dumps(batch).encode(), {}))
    assert info.event_id == source.describe(inbound(json.dumps(batch[::-1]).encode(), {})).event_id
    thin = source.normalise(raw_of(json.dumps(batch).encode()))
    assert [t.resource_id for t in thin if isinstance(t, ThinEvent)] == ["42", "43"]
    assert len({t.event_id for t in thin if isinstance(t, ThinEvent)}) == 2


def test_body_must_be_an_array(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.errors import PayloadError

    with pytest.raises(PayloadError):
        make(monkeypatch).describe(inbound(json.dumps(samples.stage_event(1, 42, "closedwon", 1)).encode(), {}))


async def test_fetch_reads_deal_line_items_and_company(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(2, random.Random(2), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)  # type: ignore[arg-type]
    assert ev["trigger"] == "STAGE_REACHED" and ev["order_key"] == order.expected.order_key
    assert ev["customer"]["name"] == "Van Dijk Koeltechniek B.V." and ev["customer"]["address"]["country"] == "NL"
    assert sum(line["quantity"] * line["unit_price"] for line in ev["lines"]) == ev["announced_total"]
    batch_read = next(r for r in api.requests if r.method == "POST")
    assert {"id": "31500000020"} in json.loads(batch_read.body)["inputs"]
    assert all(r.headers["authorization"].startswith("Bearer pat-") for r in api.requests)


@pytest.mark.parametrize("status, retriable", [(503, True), (429, True), (401, True), (404, False)])
async def test_fetch_failures(status: int, retriable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(2, random.Random(2), SECRET)
    with FakePlatformAPI(routes=order.api, fail_next=1, fail_status=status) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)  # type: ignore[arg-type]
    assert err.value.retriable is retriable
    assert "pat-" not in str(err.value)
