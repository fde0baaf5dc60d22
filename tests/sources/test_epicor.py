"""Epicor BPM callouts: OpenOrder true→false closes, VoidOrder voids, other edits ignored."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from demo.samples import epicor as samples
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)  # the documents' dates; signatures are made when sent (300 s tolerance)


def _event(source: Any, doc: dict[str, Any]) -> list[Any]:
    req = samples.signed(json.dumps(doc).encode(), SECRET, datetime.now(timezone.utc))
    source.verify(inbound(req))
    info = source.describe(inbound(req))
    return source.normalise({"platform": "epicor", "event_type": info.event_type, "event_id": info.event_id,
                             "received_at": NOW, "headers": {}, "body": req.body})


def test_closing_the_order_confirms_shipment(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("epicor", monkeypatch)
    ev = _event(source, samples.payload(1, True, False, 7, NOW))[0]
    assert ev["trigger"] == "SHIPMENT_CONFIRMED" and ev["external_order_id"] == "KSNORD-60101"


def test_void_cancels_and_plain_edits_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("epicor", monkeypatch)
    void = samples.payload(1, True, True, 8, NOW)
    void["change"]["VoidOrder"] = [False, True]
    void["OrderHed"]["VoidOrder"] = True
    assert _event(source, void)[0]["trigger"] == "ORDER_CANCELLED"
    with pytest.raises(IgnoredEvent):
        _event(source, samples.payload(1, True, True, 9, NOW))
    with pytest.raises(IgnoredEvent):
        _event(source, samples.payload(1, False, False, 10, NOW))  # already closed: not a transition


def test_bad_signature_stale_and_foreign_body(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("epicor", monkeypatch)
    body = json.dumps(samples.payload(1, True, False, 7, NOW)).encode()
    with pytest.raises(SignatureError):
        source.verify(inbound(samples.signed(body, "other", datetime.now(timezone.utc))))
    with pytest.raises(SignatureError):
        source.verify(inbound(samples.signed(body, SECRET, datetime.now(timezone.utc) - timedelta(hours=1))))
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(b'{"OrderHed": {}}', SECRET, NOW)))
