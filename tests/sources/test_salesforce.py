"""Salesforce Outbound Messages: token + org id, SOAP ack, XXE refused, thin fetch."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from demo.samples import salesforce as samples
from sources.base import InboundRequest, ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def raw_of(req: Any, source: Any) -> dict[str, Any]:
    info = source.describe(inbound(req))
    return {"platform": "salesforce", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": {k.lower(): v for k, v in req.headers.items()}, "body": req.body}


def test_ack_is_soap_notifications_response(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    reply = source.acknowledge(inbound(req), source.describe(inbound(req)))
    assert reply.status == 200 and b"<Ack>true</Ack>" in reply.body and b"notificationsResponse" in reply.body
    assert reply.content_type.startswith("text/xml")


def test_token_in_header_is_accepted_and_missing_token_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    source.verify(InboundRequest("POST", req.path, "", {"x-invoicing-token": SECRET}, req.body))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", req.path, "", {}, req.body))


def test_wrong_organization_id_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    body = samples.envelope([("04l5g0000000001AAA", "0065g00000AAAAAAAA", "Closed Won")], org_id="00D000000000001EAA")
    with pytest.raises(SignatureError):
        source.verify(inbound(samples.signed(body, SECRET, NOW)))
    fifteen = samples.envelope([("04l5g0000000001AAA", "0065g00000AAAAAAAA", "Closed Won")], org_id=samples.ORG_ID[:15])
    source.verify(inbound(samples.signed(fifteen, SECRET, NOW)))


def test_other_stages_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    req = samples.order(2, random.Random(2), SECRET).requests[1]  # Negotiation/Review
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(req))


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><notifications>&xxe;</notifications>',
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<notifications>&lol2;</notifications>',
    b"<notifications><unclosed></notifications>",
])
def test_hostile_or_broken_xml_is_a_payload_error(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    req = samples.signed(body, SECRET, NOW)
    source.verify(inbound(req))  # token is right; the body is judged by describe → 400
    with pytest.raises(PayloadError):
        source.describe(inbound(req))


async def test_batch_yields_one_thin_event_per_won_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch)
    body = samples.envelope([("04l5g0000000001AAA", "0065g00000AAAAAAAA", "Closed Won"),
                             ("04l5g0000000002AAA", "0065g00000BBBBBBBB", "Prospecting")])
    req = samples.signed(body, SECRET, NOW)
    events = source.normalise(raw_of(req, source))
    assert [e.resource_id for e in events if isinstance(e, ThinEvent)] == ["0065g00000AAAAAAAA"]


async def test_fetch_failure_is_retriable_and_4xx_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source("salesforce", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            api.fail_next, api.fail_status = 1, 503
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
            assert SECRET not in str(err.value)
            events = await source.fetch(thin, client)
            assert events[0]["trigger"] == "STAGE_REACHED"
            assert all(isinstance(line["unit_price"], type(events[0]["shipping"])) for line in events[0]["lines"])
            api.fail_next, api.fail_status = 1, 404
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert not err.value.retriable


async def test_unreachable_api_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch, base_url="http://127.0.0.1:9")
    thin = ThinEvent("n1", "OutboundMessage:Opportunity", "STAGE_REACHED", "Opportunity", "0065g00000AAAAAAAA", NOW)
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(FetchError) as err:
            await source.fetch(thin, client)
    assert err.value.retriable


async def test_soql_injection_in_id_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("salesforce", monkeypatch, base_url="http://127.0.0.1:9")
    thin = ThinEvent("n1", "x", "STAGE_REACHED", "Opportunity", "x' OR Id != '", NOW)
    async with httpx.AsyncClient() as client:
        with pytest.raises(FetchError) as err:
            await source.fetch(thin, client)
    assert not err.value.retriable
