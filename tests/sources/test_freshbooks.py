"""FreshBooks: the verification callback, the JSON-of-form signature, payment → invoice fetch."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from infra.broker import ensure_topics
from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import freshbooks as sample
from sources.base import InboundRequest
from sources.freshbooks import FreshBooks, signing_message
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import running_gateway, topic_size, unique_settings
from tests.support import source_from_env

SECRET = "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> FreshBooks:
    return source_from_env("freshbooks", monkeypatch, SECRET, base_url=base_url or None)  # type: ignore[no-any-return]


def _in(req: sample.SampleRequest) -> InboundRequest:
    return InboundRequest("POST", req.path, req.query, {k.lower(): v for k, v in req.headers.items()}, req.body)


def test_signature_is_over_python_default_json_of_the_form() -> None:
    fields = {"name": "payment.create", "object_id": "300003", "account_id": "6BApk"}
    assert signing_message(fields) == b'{"name": "payment.create", "object_id": "300003", "account_id": "6BApk"}'


async def test_verification_callback_is_answered_and_never_published(bootstrap: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    source = _source(monkeypatch)
    req = sample.verification_callback("fresh-verifier-value")
    async with running_gateway(settings, bootstrap, {"freshbooks": source}) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            resp = await client.post(req.path, content=req.body, headers=dict(req.headers))
    assert resp.status_code == 200 and b"fresh-verifier-value" not in resp.content
    assert await topic_size(bootstrap, settings.topic("invoicing.raw-events")) == 0


def test_non_trigger_events_are_ignored_and_forgery_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    req = sample.signed(sample.callback_body("invoice.create", 700001), SECRET, NOW)
    source.verify(_in(req))
    with pytest.raises(IgnoredEvent):
        source.describe(_in(req))
    forged = sample.signed(sample.callback_body("payment.create", 1), "not-the-verifier", NOW)
    with pytest.raises(SignatureError):
        source.verify(_in(forged))


async def test_payment_fetches_payment_then_invoice(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(4, random.Random(4), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = _source(monkeypatch, api.url)
        info = source.describe(_in(order.requests[0]))
        raw = {"platform": "freshbooks", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
               "headers": {}, "body": order.requests[0].body}
        [thin] = source.normalise(raw)
        async with httpx.AsyncClient() as client:
            [event] = await source.fetch(thin, client)
        calls = [r.path for r in api.requests if r.method == "GET"]
    assert calls[0].startswith("/accounting/account/6BApk/payments/payments/")
    assert "/invoices/invoices/" in calls[1] and "include%5B%5D=lines" in calls[1]
    assert event["trigger"] == "PAYMENT_RECEIVED" and event["order_key"] == order.expected.order_key
    assert event["customer"]["address"]["country"] in ("DE", "FR", "NL", "NO", "US", "JP")


async def test_fetch_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = sample.order(4, random.Random(4), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = _source(monkeypatch, api.url)
        raw = {"platform": "freshbooks", "event_type": "payment.create", "event_id": "x", "received_at": NOW,
               "headers": {}, "body": order.requests[0].body}
        [thin] = source.normalise(raw)
        api.fail_next = 5
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
    assert err.value.retriable
