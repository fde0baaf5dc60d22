"""WooCommerce polling (optional, ``INVOICING_WOOCOMMERCE_POLL=true``): the poller against the real
broker and a stateful loopback fake of ``GET /wp-json/wc/v3/orders?modified_after=…``."""
from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from domain.codec import decode
from domain.errors import FetchError
from domain.exact import dumps_exact
from sources.ingress.poller import Poller, pollable_sources
from sources.polling import PollCursor
from demo.samples import settings_env, woocommerce as sample
from domain.settings import Settings
from sources.base import InboundRequest, ThinEvent
from sources.woocommerce import WooCommerce
from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.support import polled_once_each, polling_source, read_topic, running_gateway, topic_size

SECRET = "wc-webhook-secret-0123456789"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
ENV = settings_env("woocommerce", SECRET)
KEY, CSECRET = ENV["INVOICING_WOOCOMMERCE_CONSUMER_KEY"], ENV["INVOICING_WOOCOMMERCE_CONSUMER_SECRET"]


def _gmt(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


class FakeWooCommerce(FakeTarget):
    """REST v3 orders: ``modified_after`` (strictly after, GMT with ``dates_are_gmt``), ``status``
    list, ``orderby=modified&order=asc`` (ties by id), ``page``/``per_page``; consumer key as Basic."""

    target = "woocommerce"

    def __init__(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        super().__init__()

    def put(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self.orders[doc["id"]] = doc

    def handle(self, req: Req) -> Reply:
        expected = "Basic " + base64.b64encode(f"{KEY}:{CSECRET}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Reply(401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                               "data": {"status": 401}})
        if req.method == "GET" and req.path.startswith("/wp-json/wc/v3/orders/"):
            doc = self.orders.get(int(req.path.rsplit("/", 1)[1]))
            return Reply(200, dumps_exact(doc).encode()) if doc else Reply(404, {"code": "woocommerce_rest_shop_order_invalid_id"})
        if req.method != "GET" or req.path != "/wp-json/wc/v3/orders":
            return Reply(404, {"code": "rest_no_route"})
        q = req.query
        assert q.get("dates_are_gmt") == "true" and q.get("orderby") == "modified" and q.get("order") == "asc"
        rows = sorted(self.orders.values(), key=lambda o: (_gmt(o["date_modified_gmt"]), o["id"]))
        if q.get("modified_after"):
            after = _gmt(q["modified_after"])
            rows = [o for o in rows if _gmt(o["date_modified_gmt"]) > after]
        if q.get("status"):
            rows = [o for o in rows if o["status"] in q["status"].split(",")]
        size, page = int(q.get("per_page", "10")), int(q.get("page", "1"))
        body = dumps_exact(rows[(page - 1) * size: page * size]).encode()
        return Reply(200, body, {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(max(1, -(-len(rows) // size)))})


def _order(n: int, status: str = "completed", at: datetime | None = None) -> dict[str, Any]:
    doc = sample.order_document(n, status)
    stamp = (at or T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S")
    doc["date_modified_gmt"] = doc["date_modified"] = stamp
    return doc


def _source(monkeypatch: pytest.MonkeyPatch, url: str, poll: bool = True, **extra: str) -> WooCommerce:
    return polling_source("woocommerce", monkeypatch, SECRET, url, poll=poll, **extra)  # type: ignore[no-any-return]


def _eid(doc: dict[str, Any]) -> str:
    return f"order:{doc['id']}:{doc['status']}"


async def test_poll_twice_restart_no_duplicates_nothing_missed(bootstrap: str, topics_ready: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    api = FakeWooCommerce()
    try:
        source = _source(monkeypatch, api.url)
        assert set(pollable_sources("woocommerce")) == {"woocommerce"}, "POLL=true makes it pollable"
        docs = [_order(n) for n in range(4)]
        same = T0 + timedelta(minutes=10)
        docs += [_order(4, at=same), _order(5, at=same)]            # two orders modified at the same instant
        docs.append(_order(6, "processing"))                         # paid: PAYMENT_RECEIVED
        unpaid = _order(7, "processing")
        unpaid["date_paid"] = unpaid["date_paid_gmt"] = None         # processing, not paid: no event
        docs += [unpaid, _order(8, "pending")]                       # pending: not even listed
        for d in docs:
            api.put(d)
        expected = {_eid(d) for d in docs if d["id"] not in (unpaid["id"], 7108)}

        async with Poller(settings, bootstrap, {"woocommerce": source}) as poller:
            assert (await poller.poll_once())["woocommerce"] == 7
            late = [_order(9, at=same),                               # a late writer at the watermark instant
                    _order(10, at=same - timedelta(seconds=30)),      # committed late with an older stamp (overlap)
                    _order(6, "completed", at=T0 + timedelta(minutes=20)),  # an old order moved on
                    _order(11, at=T0 + timedelta(minutes=21))]
            for d in late:
                api.put(d)
            expected |= {_eid(d) for d in late}
            assert (await poller.poll_once())["woocommerce"] == 4
            assert (await poller.poll_once())["woocommerce"] == 0
            saved = poller.cursors["woocommerce"]

        async with Poller(settings, bootstrap, {"woocommerce": _source(monkeypatch, api.url)}) as restarted:
            assert restarted.cursors["woocommerce"] == saved, "the cursor survives the restart"
            assert (await restarted.poll_once())["woocommerce"] == 0
            api.put(_order(12, at=T0 + timedelta(minutes=30)))
            expected.add(_eid(_order(12)))
            assert (await restarted.poll_once())["woocommerce"] == 1
        asked = [r for r in api.requests if r.path == "/wp-json/wc/v3/orders"]
        assert all(r.query["status"] == "completed,processing" for r in asked)
        assert asked[0].query["modified_after"] == "2026-11-01T00:00:00", "the first poll starts at POLL_SINCE"
    finally:
        api.close()

    for _, raw in await polled_once_each(bootstrap, settings, "woocommerce", expected):
        assert raw["event_type"] == "order.updated" and raw["url"].endswith("/wp-json/wc/v3/orders")
        source.verify(InboundRequest("POST", "/webhooks/woocommerce", "", raw["headers"], raw["body"]))
        flat = repr(raw).encode()
        assert CSECRET.encode() not in flat and SECRET.encode() not in flat and b"authorization" not in flat.lower()
    assert await topic_size(bootstrap, settings.topic("invoicing.poll-cursors")) >= 3


async def test_polled_order_and_webhook_give_the_same_event_key(bootstrap: str, topics_ready: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    api = FakeWooCommerce()
    try:
        source = _source(monkeypatch, api.url)
        full, thin = _order(2), _order(3)
        api.put(full)
        api.put(thin)
        hooks = [sample.webhook("order.updated", dumps_exact(full).encode(), SECRET, 1),
                 sample.order(3, random.Random(3), SECRET).requests[0]]  # thin action webhook
        async with running_gateway(settings, bootstrap, {"woocommerce": source}) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                for req in hooks:
                    assert (await client.post(req.path, content=req.body, headers=dict(req.headers))).status_code == 200
        async with Poller(settings, bootstrap, {"woocommerce": source}) as poller:
            assert (await poller.poll_once())["woocommerce"] == 2
        msgs = await read_topic(bootstrap, settings.topic("invoicing.raw-events"), count=4, timeout=15)
        assert sorted(m.key for m in msgs) == sorted([b"woocommerce:order:7102:completed",
                                                      b"woocommerce:order:7103:completed"] * 2)
        events: dict[bytes, list[dict[str, Any]]] = {}
        async with httpx.AsyncClient() as client:
            for m in msgs:
                raw = decode("raw_event", m.value)
                [ev] = source.normalise(raw)
                if isinstance(ev, ThinEvent):
                    [ev] = await source.fetch(ev, client)
                events.setdefault(m.key, []).append(ev)
        for (hook, polled) in events.values():
            for field in ("event_key", "event_id", "order_key", "dedup_keys", "trigger", "lines", "announced_total"):
                assert hook[field] == polled[field], field
    finally:
        api.close()


async def test_api_failure_keeps_the_cursor(bootstrap: str, topics_ready: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    api = FakeWooCommerce()
    try:
        source = _source(monkeypatch, api.url)
        for n in range(5):
            api.put(_order(n))
        async with Poller(settings, bootstrap, {"woocommerce": source}) as poller:
            api.fail(503)
            assert (await poller.poll_once())["woocommerce"] == -1
            assert "woocommerce" not in poller.cursors
            assert (await poller.poll_once())["woocommerce"] == 5
            saved = poller.cursors["woocommerce"]
            for n in range(5, 10):
                api.put(_order(n))
            async with httpx.AsyncClient() as client:      # page 1 answered, page 2 fails: nothing of the cycle counts
                calls = len(api.requests)
                real = api.handle
                api.handle = lambda req: real(req) if len(api.requests) <= calls + 1 else Reply(502, {"code": "bad_gateway"})  # type: ignore[method-assign]
                with pytest.raises(FetchError) as err:
                    await source.poll(client, saved)
                assert err.value.retriable
                api.handle = real  # type: ignore[method-assign]
            api.fail(500)
            assert (await poller.poll_once())["woocommerce"] == -1
            assert poller.cursors["woocommerce"] == saved, "a failed poll leaves the cursor where it was"
            assert (await poller.poll_once())["woocommerce"] == 5
        assert await topic_size(bootstrap, settings.topic("invoicing.raw-events")) == 10
    finally:
        api.close()


async def test_wrong_consumer_secret_is_retriable_and_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeWooCommerce()
    try:
        source = _source(monkeypatch, api.url, consumer_secret="cs_wrong_0000000000000000000000000000000000")
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.poll(client, PollCursor())
        assert err.value.retriable and "cs_wrong" not in str(err.value) and "401" in str(err.value)
    finally:
        api.close()
