"""Odoo webhooks: ?token=, state/invoice_status mapping, JSON-2 fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from sources.records import raw_event_record
from demo.samples import odoo as samples
from sources.base import InboundRequest, ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def _body(state: str, invoice_status: str) -> bytes:
    return json.dumps({"_action": "x(#1)", "_id": 7, "_model": "sale.order", "id": 7, "state": state,
                       "invoice_status": invoice_status, "write_date": "2026-11-23 10:00:00"}).encode()


def test_token_rejected_when_wrong_and_redacted_from_stored_url(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("odoo", monkeypatch)
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    source.verify(inbound(req))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/odoo", "token=guess", {}, req.body))
    record = raw_event_record("odoo", source.describe(inbound(req)), inbound(req), source)
    assert SECRET not in record["url"]


@pytest.mark.parametrize(("state", "status", "trigger"), [("sale", "to invoice", "SHIPMENT_CONFIRMED"), ("cancel", "no", "ORDER_CANCELLED"),
                                                         ("sale", "no", None), ("sale", "invoiced", None), ("draft", "no", None)])
def test_state_mapping(state: str, status: str, trigger: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("odoo", monkeypatch)
    req = samples.signed(_body(state, status), SECRET, NOW)
    if trigger is None:
        with pytest.raises(IgnoredEvent):
            source.describe(inbound(req))
        return
    info = source.describe(inbound(req))
    assert info.event_id == "sale.order/7/2026-11-23T10:00:00"
    thin = source.normalise({"platform": "odoo", "event_type": info.event_type, "event_id": info.event_id,
                             "received_at": NOW, "headers": {}, "body": req.body})
    assert isinstance(thin[0], ThinEvent) and thin[0].trigger == trigger


def test_other_models_are_payload_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("odoo", monkeypatch)
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(b'{"_model": "account.move", "_id": 1}', SECRET, NOW)))


async def test_fetch_reads_json2_and_skips_note_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(2, random.Random(2), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source("odoo", monkeypatch, base_url=api.url)
        req = order.requests[0]
        info = source.describe(inbound(req))
        raw: dict[str, Any] = {"platform": "odoo", "event_type": info.event_type, "event_id": info.event_id,
                               "received_at": NOW, "headers": {}, "body": req.body}
        thin = source.normalise(raw)[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            ev = (await source.fetch(thin, client))[0]
            first = api.requests[0]
            assert first.headers["authorization"].startswith("bearer ") and first.headers["x-odoo-database"] == samples.DATABASE
            assert len(ev["lines"]) == order.expected.line_count and ev["lines"][0]["sku"]
            api.fail_next, api.fail_status = 1, 502
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
