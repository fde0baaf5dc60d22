"""Shopify's buyer: the billing address only, nothing invented when an order has none."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from domain.codec import decode, encode
from sources.records import raw_event_record
from demo.samples import shopify as samples
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def buyer_of(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    source = make_source("shopify", monkeypatch)
    req = samples.signed(json.dumps(doc, default=str).encode(), SECRET, NOW)
    source.verify(inbound(req))
    info = source.describe(inbound(req))
    raw = decode("raw_event", encode("raw_event", raw_event_record("shopify", info, inbound(req), source)))
    events = source.normalise(raw)
    assert len(events) == 1 and isinstance(events[0], dict)
    return events[0]["customer"]  # type: ignore[no-any-return]


def test_buyer_from_the_billing_address(monkeypatch: pytest.MonkeyPatch) -> None:
    buyer = buyer_of(samples.shopify_payload(5, random.Random(5)), monkeypatch)
    assert buyer["name"] == "Gulf Coast Fabrication LLC"
    assert buyer["address"] == {"line1": "1200 Ship Channel Rd", "line2": None, "city": "Pasadena", "postal_code": "77506",
                                "region": "TX", "country": "US"}


def test_shipping_address_is_not_the_buyers(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.shopify_payload(1, random.Random(1))
    doc["billing_address"] = None
    buyer = buyer_of(doc, monkeypatch)
    assert buyer["address"] == {"line1": "", "line2": None, "city": "", "postal_code": "", "region": None, "country": ""}
    assert buyer["name"] == "Alex Morgan", "the customer's own name, not the shipping recipient's company"


def test_order_without_any_address_or_name_invents_none(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.shopify_payload(2, random.Random(2))
    doc["billing_address"] = doc["shipping_address"] = None
    doc["customer"] = {"id": 7390142203, "email": "facturen@vandijk-koel.nl"}
    buyer = buyer_of(doc, monkeypatch)
    assert buyer["name"] == "", "an e-mail address is not a name, and 'Unknown customer' is not one either"
    assert buyer["email"] == "facturen@vandijk-koel.nl"
    assert buyer["address"]["line1"] == "" and buyer["address"]["country"] == ""
