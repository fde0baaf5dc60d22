"""Xero: Intent to Receive, batched thin events, fetch + Status == PAID, xero-python cross-check."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import settings_env, xero as sample
from domain.settings import platform_settings
from sources.base import InboundRequest, ThinEvent
from sources.xero import Xero
from tests.fakes.platform_api import FakePlatformAPI

SECRET = "xero-webhook-key-0123456789abcdef"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> Xero:
    for k, v in settings_env("xero", SECRET).items():
        monkeypatch.setenv(k, v)
    if base_url:
        monkeypatch.setenv("INVOICING_XERO_BASE_URL", base_url)
    return Xero(platform_settings("xero"))


def _in(req: sample.SampleRequest) -> InboundRequest:
    return InboundRequest("POST", req.path, req.query, {k.lower(): v for k, v in req.headers.items()}, req.body)


def _raw(req: sample.SampleRequest, source: Xero) -> dict:
    info = source.describe(_in(req))
    return {"platform": "xero", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": {}, "body": req.body}


def test_intent_to_receive(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    good = sample.intent_to_receive(SECRET)
    source.verify(_in(good))
    with pytest.raises(IgnoredEvent):  # 200, nothing published
        source.describe(_in(good))
    with pytest.raises(SignatureError):  # 401
        source.verify(_in(sample.intent_to_receive("wrong-key")))


def test_batch_yields_one_thin_event_per_invoice_and_ignores_contacts(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    events = [sample.invoice_event(1), sample.invoice_event(2, "CREATE"),
              {**sample.invoice_event(3), "eventCategory": "CONTACT"}]
    req = sample.signed(sample.webhook_body(events, 7), SECRET, NOW)
    info = source.describe(_in(req))
    assert info.event_id.startswith("batch:")
    thin = source.normalise(_raw(req, source))
    assert [t.resource_id for t in thin if isinstance(t, ThinEvent)] == [sample.invoice_id(1), sample.invoice_id(2)]
    ev = sample.invoice_event(1)
    assert thin[0].event_id == f"{ev['tenantId']}:{ev['resourceId']}:{ev['eventType']}:{ev['eventDateUtc']}"


async def test_fetch_bills_paid_only_and_sends_tenant_and_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(4, random.Random(4), SECRET)
    routes = dict(order.api)
    with FakePlatformAPI(routes=routes) as api:
        source = _source(monkeypatch, api.url)
        [thin] = source.normalise(_raw(order.requests[0], source))
        async with httpx.AsyncClient() as client:
            [event] = await source.fetch(thin, client)
            assert event["trigger"] == "PAYMENT_RECEIVED"
            assert isinstance(event["amount_paid"], Decimal) and event["amount_paid"] > 0
            got = [r for r in api.requests if r.path.startswith("/api.xro")][0]
            assert got.headers["xero-tenant-id"] == sample.TENANT_ID
            assert got.headers["authorization"] == "Bearer xero-access-token"
            assert got.headers["accept"] == "application/json"
            # the same invoice, still AUTHORISED (unpaid): nothing to bill
            key = f"GET /api.xro/2.0/Invoices/{sample.invoice_id(4)}"
            api.routes = {**routes, key: json.loads(json.dumps(sample.invoice_document(4, "AUTHORISED"), default=str))}
            assert await source.fetch(thin, client) == []


async def test_fetch_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(4, random.Random(4), SECRET)
    with FakePlatformAPI(routes=order.api, fail_next=10, fail_status=503) as api:
        source = _source(monkeypatch, api.url)
        [thin] = source.normalise(_raw(order.requests[0], source))
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
    assert err.value.retriable
    assert "xero-access-token" not in str(err.value)


def test_sample_documents_load_through_xero_python_models() -> None:
    pytest.importorskip("xero_python")
    from xero_python.accounting.models import Invoices
    from xero_python.api_client.deserializer import deserialize
    from xero_python.api_client import ModelFinder
    import xero_python.accounting.models as models

    finder = ModelFinder(models)
    for n in range(6):
        doc = json.loads(sample.dumps_exact(sample.invoice_document(n)), parse_float=Decimal)
        invoices = deserialize("Invoices", doc, finder)
        assert isinstance(invoices, Invoices)
        inv = invoices.invoices[0]
        assert getattr(inv.status, "value", inv.status) == "PAID" and getattr(inv.type, "value", inv.type) == "ACCREC"
        assert isinstance(inv.total, Decimal) and inv.date is not None
        assert inv.total == sum((li.line_amount for li in inv.line_items), Decimal(0)) + inv.total_tax
        assert inv.fully_paid_on_date is not None and inv.contact.contact_id
