"""One contract, run over every registered platform source (STYLE.md §5).

A platform is done when it passes this suite without the suite being edited:
its samples (demo/samples/<platform>.py) are signed the platform's way,
posted to a real gateway over HTTP, published to the real broker, and read
back into the canonical order event.
"""
from __future__ import annotations

import pkgutil
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import sources
from domain.codec import decode, encode
from infra.broker import ensure_topics
from sources.records import raw_event_record
from demo.samples import SAMPLES
from domain.settings import platform_settings
from sources.base import InboundRequest, Source, ThinEvent
from sources.registry import SOURCES
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import read_topic, running_gateway, source_from_env, topic_size, unique_settings

PLATFORMS = sorted(SOURCES)
MISSION_PLATFORMS = {
    "salesforce", "sap", "quickbooks", "xero", "dynamics365", "netsuite", "zoho-books", "freshbooks",
    "sage-intacct", "odoo", "oracle-fusion", "epicor", "infor", "shopify", "woocommerce", "magento",
    "stripe", "paypal", "hubspot", "monday", "trello", "wave",
}
SECRET = "contract-secret-0123456789abcdef"
#: platforms authenticated by a token that does not cover the body (a changed body cannot be detected)
TOKEN_ONLY = {"dynamics365", "infor", "monday", "odoo", "oracle-fusion", "sage-intacct", "salesforce", "sap"}
#: platforms whose signature covers a timestamp that may go stale (Stripe, HubSpot v3, JWTs)
TIMESTAMPED = {"epicor", "hubspot", "monday", "netsuite", "paypal", "sage-intacct", "stripe"}


def test_every_source_module_is_registered() -> None:
    # sources/ holds one module per platform beside the interface (base, canonical, polling, records,
    # registry) and two packages: ingress (gateway, poller) and support (helpers the platforms share)
    modules = {m.name for m in pkgutil.iter_modules([str(Path(sources.__file__).parent)]) if not m.ispkg} - {
        "base", "canonical", "polling", "records", "registry"}
    registered = {cls.__module__.rsplit(".", 1)[1] for cls in SOURCES.values()}
    assert modules == registered, f"unregistered source modules: {modules - registered}"
    assert set(SOURCES) <= MISSION_PLATFORMS
    assert set(SAMPLES) == set(SOURCES), "every platform needs a sample module and vice versa"


def make_source(platform: str, monkeypatch: pytest.MonkeyPatch, base_url: str | None = None,
                secret: str = SECRET) -> Source:
    return source_from_env(platform, monkeypatch, secret, base_url=base_url or None)  # type: ignore[no-any-return]


def sample(platform: str, n: int = 1, secret: str = SECRET, at: datetime | None = None) -> Any:
    return SAMPLES[platform].order(n, random.Random(n), secret, at or datetime.now(timezone.utc))


async def post(base: str, req: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.request(req.method, req.path + (f"?{req.query}" if req.query else ""),
                                    content=req.body, headers=dict(req.headers))


def inbound(req: Any) -> InboundRequest:
    return InboundRequest(method=req.method, path=req.path, query=req.query,
                          headers={k.lower(): v for k, v in req.headers.items()}, body=req.body,
                          url=f"http://testserver{req.path}" + (f"?{req.query}" if req.query else ""))


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_signed_request_publishes_one_raw_event(platform: str, bootstrap: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    source = make_source(platform, monkeypatch)
    req = sample(platform).requests[0]
    async with running_gateway(settings, bootstrap, {platform: source}) as base:
        resp = await post(base, req)
    assert 200 <= resp.status_code < 300, resp.text
    msgs = await read_topic(bootstrap, settings.topic("invoicing.raw-events"), count=1, timeout=10)
    assert len(msgs) == 1
    raw = decode("raw_event", msgs[0].value)
    assert raw["platform"] == platform
    assert raw["body"] == req.body, "the raw body bytes are kept for re-verification and replay"
    assert msgs[0].key == f"{platform}:{raw['event_id']}".encode()
    assert not any(h in raw["headers"] for h in ("authorization", "cookie")), "secrets never reach a topic"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_rejected_requests_leave_topics_empty(platform: str, bootstrap: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path, max_body_bytes=64 * 1024)
    await ensure_topics(settings, bootstrap)
    source = make_source(platform, monkeypatch)
    mod = SAMPLES[platform]
    good = sample(platform).requests[0]
    wrong_secret = sample(platform, secret="not-the-" + SECRET).requests[0]
    malformed = mod.signed(b'{"truncated": ', SECRET, datetime.now(timezone.utc))
    cases: list[tuple[str, Any, set[int]]] = [
        ("wrong secret", wrong_secret, {401}),
        ("malformed body", malformed, {400}),
        ("oversized body", mod.signed(b"{" + b" " * (65 * 1024) + b"}", SECRET, datetime.now(timezone.utc)), {413}),
    ]
    if source.platform not in TOKEN_ONLY:
        flipped = bytearray(good.body)
        i = len(flipped) // 2
        flipped[i] = flipped[i] ^ 0x01
        cases.append(("tampered body", type(good)(good.path, bytes(flipped), good.headers, good.method, good.query), {401}))
    if source.platform in TIMESTAMPED:
        stale = sample(platform, at=datetime.now(timezone.utc) - timedelta(hours=2)).requests[0]
        cases.append(("stale timestamp (a replayed capture)", stale, {401}))
    async with running_gateway(settings, bootstrap, {platform: source}) as base:
        for what, req, statuses in cases:
            resp = await post(base, req)
            assert resp.status_code in statuses, f"{what}: {resp.status_code} {resp.text}"
        unknown = await post(base, type(good)("/webhooks/no-such-platform", good.body, good.headers))
        assert unknown.status_code == 404
    for name in ("invoicing.raw-events", "invoicing.orders", "invoices", "invoicing.dead-letters"):
        assert await topic_size(bootstrap, settings.topic(name)) == 0, f"{name} must stay empty"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_normalises_into_the_expected_order_event(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample(platform, n=3)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source(platform, monkeypatch, base_url=api.url)
        req = order.requests[0]
        source.verify(inbound(req))
        info = source.describe(inbound(req))
        raw = decode("raw_event", encode("raw_event", raw_event_record(platform, info, inbound(req), source)))
        events: list[dict[str, Any]] = []
        async with httpx.AsyncClient(timeout=5) as client:
            for item in source.normalise(raw):
                if isinstance(item, ThinEvent):
                    assert source.thin, "only thin sources return ThinEvents"
                    events.extend(await source.fetch(item, client))
                else:
                    events.append(item)
    assert events, "the sample's first request must trigger invoicing"
    ev = decode("order_event", encode("order_event", events[0]))  # validates against schemas/order_event.avsc
    exp = order.expected
    assert ev["trigger"] == exp.trigger
    assert ev["external_order_id"] == exp.external_order_id
    assert ev["currency"] == exp.currency
    assert len(ev["lines"]) == exp.line_count
    if exp.order_key:
        assert ev["order_key"] == exp.order_key
    assert ev["platform"] == platform
    assert all(line["quantity"] > 0 for line in ev["lines"])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_redelivery_has_the_same_dedup_key(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source(platform, monkeypatch)
    first = sample(platform, n=5).requests[0]
    again = sample(platform, n=5).requests[0]
    info1 = source.describe(inbound(first))
    info2 = source.describe(inbound(again))
    assert info1.event_id == info2.event_id, "a redelivered event must keep its event id"
    other = source.describe(inbound(sample(platform, n=6).requests[0]))
    assert other.event_id != info1.event_id


def test_missing_secret_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.errors import SignatureError

    for platform in PLATFORMS:
        cls = SOURCES[platform]
        source = cls(platform_settings(platform, cls.settings_class))
        req = sample(platform).requests[0]
        if source.challenge(inbound(req)) is not None:
            continue
        with pytest.raises(SignatureError):
            source.verify(inbound(req))
