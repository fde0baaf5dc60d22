"""SAP CloudEvents: structured and binary mode, Basic secret, delivery status decides after the fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from invoicing.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from invoicing.samples import sap as samples
from sources.base import ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.test_source_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def raw_of(req: Any, source: Any) -> dict[str, Any]:
    info = source.describe(inbound(req))
    headers = {k.lower(): v for k, v in req.headers.items() if k.lower() in (*source.keep_headers, "content-type")}
    return {"platform": "sap", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": headers, "body": req.body}


def test_binary_and_structured_mode_give_the_same_event(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    event = samples.cloudevent("9000042", "0b1e5a1c-2f4d-4c39-9a7e-1b2c3d4e5f60", NOW, "7390142201")
    structured = samples.signed(json.dumps(event).encode(), SECRET, NOW)
    binary = samples.binary(event, SECRET)
    assert "ce-id" in {k.lower() for k in binary.headers}
    for req in (structured, binary):
        source.verify(inbound(req))
        info = source.describe(inbound(req))
        assert (info.event_id, info.event_type) == (event["id"], samples.CHANGED)
        thin = source.normalise(raw_of(req, source))
        assert isinstance(thin[0], ThinEvent) and thin[0].resource_id == "9000042"


def test_wrong_basic_password_and_missing_auth_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    req = samples.order(1, random.Random(1), "wrong").requests[0]
    with pytest.raises(SignatureError):
        source.verify(inbound(req))
    bare = samples.signed(req.body, SECRET, NOW)
    with pytest.raises(SignatureError):
        source.verify(inbound(type(bare)(bare.path, bare.body, {"Content-Type": "application/cloudevents+json"})))
    token = samples.signed(req.body, SECRET, NOW)
    source.verify(inbound(type(token)(token.path, token.body, {"X-Invoicing-Token": SECRET})))


@pytest.mark.parametrize("change", [{"type": "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"}])
def test_other_event_types_are_ignored(change: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    event = {**samples.cloudevent("9000042", "id-1", NOW, "7390142201"), **change}
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(samples.signed(json.dumps(event).encode(), SECRET, NOW)))


@pytest.mark.parametrize("body", [b'{"specversion": "0.3", "id": "1", "type": "t", "source": "s", "data": {"SalesOrder": "1"}}',
                                  b'{"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data": {}}', b"[]"])
def test_not_a_sales_order_cloudevent(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(body, SECRET, NOW)))


@pytest.mark.parametrize(("delivery", "rejection", "trigger"), [("C", "A", "SHIPMENT_CONFIRMED"), ("B", "A", None),
                                                                 ("A", "C", "ORDER_CANCELLED")])
async def test_status_after_fetch_decides(delivery: str, rejection: str, trigger: str | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    so_id = order.expected.external_order_id
    doc = samples.sales_order(3, so_id, NOW, delivery=delivery)
    doc["d"]["OverallSDProcessStatus"] = delivery
    doc["d"]["OverallSDDocumentRejectionSts"] = rejection
    with FakePlatformAPI(routes={samples.api_route(so_id): doc}) as api:
        source = make_source("sap", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            events = await source.fetch(thin, client)
        assert api.requests[0].headers["authorization"].startswith("Basic ")
    assert [e["trigger"] for e in events] == ([trigger] if trigger else [])


async def test_fetch_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    with FakePlatformAPI(routes=order.api, fail_next=1, fail_status=503) as api:
        source = make_source("sap", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
            api.fail_next, api.fail_status = 1, 404
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert not err.value.retriable
