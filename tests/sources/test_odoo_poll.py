"""Odoo polling (optional, ``INVOICING_ODOO_POLL=true``): the poller against the real broker and a
stateful loopback fake of JSON-2 ``POST /json/2/sale.order/search_read`` (and ``read``)."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.codec import decode
from domain.errors import FetchError
from domain.exact import dumps_exact
from sources.ingress.poller import Poller, pollable_sources
from sources.polling import PollCursor
from demo.samples import odoo as sample, settings_env
from domain.settings import Settings, platform_settings
from sources.base import ThinEvent
from sources.odoo import Odoo, OdooSourceSettings
from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.support import polled_once_each, polling_source, read_topic, running_gateway, topic_size

SECRET = "odoo-webhook-token-0123456789"
T0 = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
ENV = settings_env("odoo", SECRET)
API_KEY = ENV["INVOICING_ODOO_API_KEY"]
_OPS = {"=": lambda a, b: a == b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b}


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


class FakeOdoo(FakeTarget):
    """JSON-2: bearer API key + ``X-Odoo-Database``; ``search_read`` with an AND domain of
    ``[field, op, value]`` triples, ``order`` (fields asc/desc), ``limit``/``offset``; ``read`` by ids.
    Datetimes compare as Odoo's ``YYYY-MM-DD HH:MM:SS`` strings (UTC), as in SQL."""

    target = "odoo"

    def __init__(self) -> None:
        self.models: dict[str, dict[int, dict[str, Any]]] = {"sale.order": {}, "res.partner": {}, "sale.order.line": {}}
        super().__init__()

    def put(self, model: str, row: dict[str, Any]) -> None:
        with self.lock:
            self.models[model][row["id"]] = row

    def handle(self, req: Req) -> Reply:
        if req.headers.get("authorization") != f"bearer {API_KEY}" or req.headers.get("x-odoo-database") != sample.DATABASE:
            return Reply(401, {"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey"})
        parts = req.path.strip("/").split("/")
        if req.method != "POST" or parts[:2] != ["json", "2"] or len(parts) != 4 or parts[2] not in self.models:
            return Reply(404, {"name": "werkzeug.exceptions.NotFound", "message": "Not Found"})
        table, args = self.models[parts[2]], req.json()
        if parts[3] == "read":
            rows = [table[i] for i in args["ids"] if i in table]
        elif parts[3] == "search_read":
            rows = [r for r in table.values() if all(_OPS[op](r.get(f), v) for f, op, v in args.get("domain") or [])]
            for term in reversed([t.split() for t in (args.get("order") or "id asc").split(",")]):
                rows.sort(key=lambda r: r[term[0]], reverse=len(term) > 1 and term[1].lower() == "desc")
            offset = int(args.get("offset") or 0)
            rows = rows[offset: offset + int(args["limit"])] if args.get("limit") else rows[offset:]
        else:
            return Reply(404, {"name": "werkzeug.exceptions.NotFound", "message": "Not Found"})
        fields = args.get("fields")
        out = [{"id": r["id"], **{k: v for k, v in r.items() if not fields or k in fields}} for r in rows]
        return Reply(200, dumps_exact(out).encode())


def _so(n: int, at: datetime | None = None, state: str = "sale", invoice_status: str = "to invoice") -> dict[str, Any]:
    return {"id": 3100 + n, "name": f"S{3100 + n:05d}", "state": state, "invoice_status": invoice_status,
            "write_date": _stamp(at or T0 + timedelta(minutes=n)), "amount_total": Decimal("119.00")}


def _source(monkeypatch: pytest.MonkeyPatch, url: str, poll: bool = True, **extra: str) -> Odoo:
    return polling_source("odoo", monkeypatch, SECRET, url, poll=poll, **extra)  # type: ignore[no-any-return]


def _eid(so: dict[str, Any]) -> str:
    return f"sale.order/{so['id']}/{so['write_date'].replace(' ', 'T')}"


async def test_poll_twice_restart_no_duplicates_nothing_missed(bootstrap: str, topics_ready: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    api = FakeOdoo()
    try:
        source = _source(monkeypatch, api.url)
        assert set(pollable_sources("odoo")) == {"odoo"}, "POLL=true makes it pollable"
        same = T0 + timedelta(minutes=10)
        orders = [_so(n) for n in range(4)] + [_so(4, same), _so(5, same)]  # two orders written at the same instant
        orders += [_so(6, invoice_status="no"), _so(7, state="draft", invoice_status="no")]  # not ready: not asked for
        for so in orders:
            api.put("sale.order", so)
        expected = {_eid(so) for so in orders[:6]}

        async with Poller(settings, bootstrap, {"odoo": source}) as poller:
            assert (await poller.poll_once())["odoo"] == 6
            late = [_so(8, same),                                   # a late writer at the watermark instant
                    _so(9, same - timedelta(minutes=2)),            # long transaction: committed late, older write_date
                    _so(6, T0 + timedelta(minutes=20)),             # delivered: now to invoice
                    _so(2, T0 + timedelta(minutes=21))]             # written again, still to invoice
            for so in late:
                api.put("sale.order", so)
            expected |= {_eid(so) for so in late}
            assert (await poller.poll_once())["odoo"] == 4
            assert (await poller.poll_once())["odoo"] == 0
            saved = poller.cursors["odoo"]

        async with Poller(settings, bootstrap, {"odoo": _source(monkeypatch, api.url)}) as restarted:
            assert restarted.cursors["odoo"] == saved, "the cursor survives the restart"
            assert (await restarted.poll_once())["odoo"] == 0
            api.put("sale.order", _so(10, T0 + timedelta(minutes=30)))
            expected.add(_eid(_so(10, T0 + timedelta(minutes=30))))
            assert (await restarted.poll_once())["odoo"] == 1
        first = json.loads(api.requests[0].body)
        assert first["domain"] == [["write_date", ">", "2026-11-01 00:00:00"], ["state", "=", "sale"],
                                   ["invoice_status", "=", "to invoice"]]
        assert first["order"] == "write_date asc, id asc" and first["limit"] == 2
    finally:
        api.close()

    for _, raw in await polled_once_each(bootstrap, settings, "odoo", expected):
        assert raw["event_type"] == "sale.order.sale" and raw["url"].endswith("/json/2/sale.order/search_read")
        flat = repr(raw).encode()
        assert API_KEY.encode() not in flat and SECRET.encode() not in flat and b"bearer" not in flat.lower()
    assert await topic_size(bootstrap, settings.topic("invoicing.poll-cursors")) >= 3


async def test_polled_order_and_webhook_give_the_same_event_key(bootstrap: str, topics_ready: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    order = sample.order(2, random.Random(2), SECRET)
    api = FakeOdoo()
    try:
        for route, model in (("POST /json/2/sale.order/read", "sale.order"), ("POST /json/2/res.partner/read", "res.partner"),
                             ("POST /json/2/sale.order.line/read", "sale.order.line")):
            for row in json.loads(order.api[route], parse_float=Decimal):
                api.put(model, row)
        source = _source(monkeypatch, api.url)
        hook = order.requests[0]                                   # the "to invoice" webhook
        async with running_gateway(settings, bootstrap, {"odoo": source}) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                resp = await client.post(hook.path, params=hook.query, content=hook.body, headers=dict(hook.headers))
                assert resp.status_code == 200
        async with Poller(settings, bootstrap, {"odoo": source}) as poller:
            assert (await poller.poll_once())["odoo"] == 1
        msgs = await read_topic(bootstrap, settings.topic("invoicing.raw-events"), count=2, timeout=15)
        assert [m.key for m in msgs] == [b"odoo:sale.order/3102/2026-11-23T13:10:00"] * 2
        events = []
        async with httpx.AsyncClient() as client:
            for m in msgs:
                [thin] = source.normalise(decode("raw_event", m.value))
                assert isinstance(thin, ThinEvent)
                events.extend(await source.fetch(thin, client))
        hooked, polled = events
        for field in ("event_key", "event_id", "order_key", "dedup_keys", "trigger", "lines", "announced_total"):
            assert hooked[field] == polled[field], field
    finally:
        api.close()


async def test_api_failure_keeps_the_cursor(bootstrap: str, topics_ready: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = topics_ready
    api = FakeOdoo()
    try:
        source = _source(monkeypatch, api.url)
        for n in range(5):
            api.put("sale.order", _so(n))
        async with Poller(settings, bootstrap, {"odoo": source}) as poller:
            api.fail(503)
            assert (await poller.poll_once())["odoo"] == -1
            assert "odoo" not in poller.cursors
            assert (await poller.poll_once())["odoo"] == 5
            saved = poller.cursors["odoo"]
            for n in range(5, 10):
                api.put("sale.order", _so(n))
            calls = len(api.requests)
            real = api.handle
            api.handle = lambda req: real(req) if len(api.requests) <= calls + 1 else Reply(502, {"message": "Bad Gateway"})  # type: ignore[method-assign]
            assert (await poller.poll_once())["odoo"] == -1, "page 1 answered, page 2 failed"
            assert poller.cursors["odoo"] == saved, "a failed poll leaves the cursor where it was"
            api.handle = real  # type: ignore[method-assign]
            assert (await poller.poll_once())["odoo"] == 5
        assert await topic_size(bootstrap, settings.topic("invoicing.raw-events")) == 10
    finally:
        api.close()


async def test_wrong_api_key_is_retriable_and_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeOdoo()
    try:
        source = _source(monkeypatch, api.url, api_key="wrong-key-0123456789abcdef")
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.poll(client, PollCursor())
        assert err.value.retriable and "wrong-key" not in str(err.value)
        monkeypatch.delenv("INVOICING_ODOO_TENANT")
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError):
                await Odoo(platform_settings("odoo", OdooSourceSettings)).poll(client, PollCursor())
    finally:
        api.close()
