"""Infor ION SyncSalesOrder BODs: bearer/header secret, Complete status, hostile XML refused."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from demo.samples import infor as samples
from sources.base import InboundRequest
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def test_complete_replace_confirms_shipment(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("infor", monkeypatch)
    body, co, currency, count = samples.bod(2, "Complete", "Replace", NOW, "bod-1")
    req = samples.signed(body, SECRET, NOW)
    source.verify(inbound(req))
    info = source.describe(inbound(req))
    assert info.event_id == "bod-1"
    ev = source.normalise({"platform": "infor", "event_type": info.event_type, "event_id": info.event_id,
                           "received_at": NOW, "headers": {}, "body": body})[0]
    assert isinstance(ev, dict)
    assert (ev["trigger"], ev["external_order_id"], ev["currency"], len(ev["lines"])) == ("SHIPMENT_CONFIRMED", co, currency, count)
    assert ev["customer"]["email"] and ev["purchase_order"] == "PO-9902"


@pytest.mark.parametrize(("status", "action"), [("Ordered", "Replace"), ("Complete", "Delete"), ("Stopped", "Replace")])
def test_other_statuses_and_actions_are_ignored(status: str, action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("infor", monkeypatch)
    body, *_ = samples.bod(2, status, action, NOW, "bod-2")
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(samples.signed(body, SECRET, NOW)))


def test_token_header_and_wrong_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("infor", monkeypatch)
    body, *_ = samples.bod(2, "Complete", "Replace", NOW, "bod-3")
    source.verify(InboundRequest("POST", "/webhooks/infor", "", {"x-invoicing-token": SECRET}, body))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/infor", "", {"authorization": "Bearer nope"}, body))
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/infor", "", {"authorization": f"Basic {SECRET}"}, body))


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><SyncSalesOrder>&x;</SyncSalesOrder>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><SyncSalesOrder>&c;</SyncSalesOrder>',
    b"<ProcessSalesOrder/>",
    b"<SyncSalesOrder><ApplicationArea><BODID>x</BODID></ApplicationArea></SyncSalesOrder>",
])
def test_hostile_or_foreign_xml_is_a_payload_error(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("infor", monkeypatch)
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(body, SECRET, NOW)))
