"""PayPal source: certificate download from allowed hosts only, CRC32 message, both event flavours, fetch failures."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import paypal as samples
from sources.base import InboundRequest, ThinEvent
from sources.paypal import PayPal, signed_message
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "paypal-test-identity"


def make(monkeypatch: pytest.MonkeyPatch, pinned: bool = True, **env: str) -> PayPal:
    omit = () if pinned else ("INVOICING_PAYPAL_CERT_PEM",)
    return source_from_env("paypal", monkeypatch, SECRET, omit=omit, **env)  # type: ignore[no-any-return]


def inbound(body: bytes, headers: Any) -> InboundRequest:
    return InboundRequest("POST", "/webhooks/paypal", "", {k.lower(): v for k, v in dict(headers).items()}, body)


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "paypal", "event_type": "x", "event_id": "x", "received_at": datetime.now(timezone.utc),
            "headers": {}, "body": body}


def test_signed_message_uses_unsigned_decimal_crc32() -> None:
    # crc32(b"\xff" * 4) = 0xFFFFFFFF, the largest unsigned value (never negative as in Java's int)
    assert signed_message("tid", "2026-11-23T09:00:00Z", "WH1", b"\xff" * 4).endswith(b"|4294967295")


def test_certificate_is_fetched_from_an_allowed_host_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    _, pem, _ = samples.identity(SECRET)
    with FakePlatformAPI(routes={"GET /v1/notifications/certs/CERT-360caa42": pem.encode()}) as api:
        source = make(monkeypatch, pinned=False, cert_hosts="127.0.0.1")
        body = json.dumps({"id": "WH-1", "event_type": "PAYMENT.SALE.COMPLETED", "resource": {}}).encode()
        now = datetime.now(timezone.utc)
        headers = samples.sign_paypal(body, SECRET, now, "tid-1", cert_url=f"{api.url}/v1/notifications/certs/CERT-360caa42")
        source.verify(inbound(body, headers))
        source.verify(inbound(body, samples.sign_paypal(body, SECRET, now, "tid-2", cert_url=headers["PAYPAL-CERT-URL"])))
        assert len([r for r in api.requests if "/certs/" in r.path]) == 1, "certificates are cached"


@pytest.mark.parametrize("cert_url", [
    "https://evil.example.com/v1/notifications/certs/CERT-1",
    "https://paypal.com.evil.example/certs/CERT-1",
    "http://api.paypal.com/v1/notifications/certs/CERT-1",  # not HTTPS
    "https://user@api.paypal.com/v1/notifications/certs/CERT-1",
    "",
])
def test_certificate_urls_off_the_allowed_hosts_are_refused(cert_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch, pinned=False)  # default: paypal.com and its subdomains
    body = b'{"id":"WH-1"}'
    with pytest.raises(SignatureError):
        source.verify(inbound(body, samples.sign_paypal(body, SECRET, datetime.now(timezone.utc), "t", cert_url=cert_url)))


def test_header_and_message_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    body = b'{"id":"WH-1","event_type":"PAYMENT.SALE.COMPLETED"}'
    now = datetime.now(timezone.utc)
    good = samples.sign_paypal(body, SECRET, now, "tid-9")
    source.verify(inbound(body, good))
    for change in ({"PAYPAL-AUTH-ALGO": "SHA1withRSA"}, {"PAYPAL-TRANSMISSION-ID": "tid-10"},
                   {"PAYPAL-TRANSMISSION-SIG": "not base64!"}, {"PAYPAL-TRANSMISSION-TIME": "yesterday"}):
        with pytest.raises(SignatureError):
            source.verify(inbound(body, {**good, **change}))
    with pytest.raises(SignatureError):  # same transmission, other webhook id
        make(monkeypatch, webhook_id="8PT597110X687430LKGECATA").verify(inbound(body, good))
    with pytest.raises(SignatureError):  # an old capture replayed
        source.verify(inbound(body, samples.sign_paypal(body, SECRET, now - timedelta(hours=1), "tid-11")))


@pytest.mark.parametrize("event_type", ["PAYMENT.CAPTURE.PENDING", "PAYMENT.SALE.REFUNDED", "CHECKOUT.ORDER.APPROVED"])
def test_other_events_are_ignored(event_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    event, *_ = samples.documents(1, random.Random(1))
    event["event_type"] = event_type
    body = json.dumps(event).encode()
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


@pytest.mark.parametrize("n", [2, 3])  # even: Orders v2 capture; odd: v1 sale
async def test_both_flavours_fetch_with_an_oauth_token(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(n, random.Random(n), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)
            await source.fetch(thin, client)
    assert ev["external_order_id"] == order.expected.external_order_id
    assert ev["order_number"].startswith("KN-PP-")
    assert ev["amount_paid"] == ev["announced_total"]
    assert len([r for r in api.requests if r.path == "/v1/oauth2/token"]) == 1, "the token is reused"
    assert api.requests[0].headers["authorization"].startswith("Basic ")
    assert api.requests[1].headers["authorization"].startswith("Bearer A21AA")


async def test_custom_id_carrying_an_order_key_becomes_the_order_key(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(4, random.Random(4), SECRET)
    event = json.loads(order.requests[0].body)
    event["resource"]["custom_id"] = "shopify:5800000000004"
    with FakePlatformAPI(routes=order.api) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(json.dumps(event).encode()))
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)
    assert ev["order_key"] == "shopify:5800000000004"


@pytest.mark.parametrize("status, retriable", [(503, True), (429, True), (404, False)])
async def test_fetch_failures_raise_fetch_error(status: int, retriable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    with FakePlatformAPI(routes={"POST /v1/oauth2/token": order.api["POST /v1/oauth2/token"]}, fail_status=status) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        api.fail_next = 1
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
    assert err.value.retriable is retriable
    assert "A21AA" not in str(err.value) and "EGnHDx" not in str(err.value), "no secret in errors"


async def test_unreachable_api_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    source = make(monkeypatch, base_url="http://127.0.0.1:9")
    [thin] = source.normalise(raw_of(order.requests[0].body))
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(FetchError) as err:
            await source.fetch(thin, client)
    assert err.value.retriable
