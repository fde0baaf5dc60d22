"""Zoho Books: the [S] signature over sorted query pairs + body, status kinds, dedupe key."""
from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime, timezone

import pytest

from domain.errors import IgnoredEvent, SignatureError
from domain.exact import dumps_exact
from demo.samples import settings_env, zoho_books as sample
from domain.settings import platform_settings
from sources.base import InboundRequest
from sources.zoho_books import ZohoBooks, signing_string

SECRET = "zohoSecret12345"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch) -> ZohoBooks:
    for k, v in settings_env("zoho-books", SECRET).items():
        monkeypatch.setenv(k, v)
    return ZohoBooks(platform_settings("zoho-books"))


def _in(req: sample.SampleRequest) -> InboundRequest:
    return InboundRequest("POST", req.path, req.query, {k.lower(): v for k, v in req.headers.items()}, req.body)


def test_signing_string_sorts_query_and_form_pairs() -> None:
    assert signing_string("b=2&a=1", b'{"x":1}', "application/json") == b'a1b2{"x":1}'
    assert signing_string("z=9", b"name=basic&id=7", "application/x-www-form-urlencoded") == b"id7namebasicz9"


def test_hex_and_base64_digests_are_accepted_query_is_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    req = sample.order(2, random.Random(2), SECRET).requests[0]
    source.verify(_in(req))
    upper = sample.SampleRequest(req.path, req.body, {**req.headers, "X-Zoho-Webhook-Signature": req.headers["X-Zoho-Webhook-Signature"].upper()}, query=req.query)
    source.verify(_in(upper))
    moved = sample.SampleRequest(req.path, req.body, req.headers, query=req.query.replace("workflow", "attacker"))
    with pytest.raises(SignatureError):
        source.verify(_in(moved))
    with pytest.raises(SignatureError):
        source.verify(_in(sample.SampleRequest(req.path, req.body, {"Content-Type": "application/json"}, query=req.query)))
    digest = hmac.new(SECRET.encode(), signing_string(req.query, req.body, "application/json"), hashlib.sha256).digest()
    import base64
    b64 = sample.SampleRequest(req.path, req.body, {**req.headers, "X-Zoho-Webhook-Signature": base64.b64encode(digest).decode()}, query=req.query)
    source.verify(_in(b64))


def test_status_kinds_and_event_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    cases = {"confirmed": "STAGE_REACHED", "fulfilled": "SHIPMENT_CONFIRMED", "void": "ORDER_CANCELLED"}
    for kind, trigger in cases.items():
        so = sample.salesorder(4, kind)
        req = sample.webhook(dumps_exact({"salesorder": so}).encode(), SECRET)
        info = source.describe(_in(req))
        assert info.event_id == f"{so['salesorder_id']}:{kind}:{so['last_modified_time']}"
        raw = {"platform": "zoho-books", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
               "headers": {}, "body": req.body, "content_type": "application/json"}
        [event] = source.normalise(raw)
        assert event["trigger"] == trigger and event["currency"] == so["currency_code"]
        assert all(line["tax_rate"] is None or line["tax_rate"] > 0 for line in event["lines"])
    draft = sample.webhook(dumps_exact({"salesorder": sample.salesorder(4, "draft")}).encode(), SECRET)
    with pytest.raises(IgnoredEvent):
        source.describe(_in(draft))
