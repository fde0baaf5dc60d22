"""Oracle Fusion via OIC: header secret, status mapping, salesOrdersForOrderHub fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from demo.samples import oracle_fusion as samples
from sources.base import InboundRequest, ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


@pytest.mark.parametrize(("status", "trigger"), [("AWAITING_BILLING", "SHIPMENT_CONFIRMED"), ("CLOSED", "SHIPMENT_CONFIRMED"),
                                                 ("CANCELED", "ORDER_CANCELLED"), ("OPEN", None), ("AWAITING_SHIPPING", None)])
def test_status_mapping(status: str, trigger: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("oracle-fusion", monkeypatch)
    req = samples.signed(json.dumps(samples.event(300000271880001, "520001", status, NOW)).encode(), SECRET, NOW)
    if trigger is None:
        with pytest.raises(IgnoredEvent):
            source.describe(inbound(req))
        return
    info = source.describe(inbound(req))
    thin = source.normalise({"platform": "oracle-fusion", "event_type": info.event_type, "event_id": info.event_id,
                             "received_at": NOW, "headers": {}, "body": req.body})
    assert isinstance(thin[0], ThinEvent) and thin[0].trigger == trigger


def test_auth_and_payload_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("oracle-fusion", monkeypatch)
    body = json.dumps(samples.event(300000271880001, "520001", "CLOSED", NOW)).encode()
    with pytest.raises(SignatureError):
        source.verify(InboundRequest("POST", "/webhooks/oracle-fusion", "", {"x-invoicing-token": "x"}, body))
    bad = json.dumps({**samples.event(1, "1", "CLOSED", NOW), "headerId": "1/../../x"}).encode()
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(bad, SECRET, NOW)))


async def test_fetch_with_basic_auth_and_retriable_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(1, random.Random(1), SECRET)
    with FakePlatformAPI(routes=order.api) as api:
        source = make_source("oracle-fusion", monkeypatch, base_url=api.url)
        req = order.requests[0]
        info = source.describe(inbound(req))
        thin = source.normalise({"platform": "oracle-fusion", "event_type": info.event_type, "event_id": info.event_id,
                                 "received_at": NOW, "headers": {}, "body": req.body})[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            ev = (await source.fetch(thin, client))[0]
            assert api.requests[0].headers["authorization"].startswith("Basic ")
            assert ev["customer_ref"].startswith("oracle-fusion:")
            api.fail_next, api.fail_status = 1, 500
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable


# -- buyer data: the bill-to customer account and its bill-to site ---------------------------------------

async def fetched_order(monkeypatch: pytest.MonkeyPatch, n: int, change: Any = None) -> tuple[dict[str, Any], list[str]]:
    """Sample order *n* fetched (its document first passed through *change*); the order event and the requested paths."""
    order = samples.order(n, random.Random(n), SECRET)
    routes = dict(order.api)
    if change is not None:
        key = next(iter(routes))
        doc = json.loads(routes[key])
        change(doc)
        routes[key] = doc
    with FakePlatformAPI(routes=routes) as api:
        source = make_source("oracle-fusion", monkeypatch, base_url=api.url)
        req = order.requests[0]
        info = source.describe(inbound(req))
        thin = source.normalise({"platform": "oracle-fusion", "event_type": info.event_type, "event_id": info.event_id,
                                 "received_at": NOW, "headers": {}, "body": req.body})[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            events = await source.fetch(thin, client)
    return events[0], [r.path for r in api.requests]


async def test_buyer_is_the_bill_to_customer_and_site(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, paths = await fetched_order(monkeypatch, 2)
    assert ev["customer"] == {"name": "Van Dijk Koeltechniek B.V.", "email": "facturen@vandijk-koel.nl",
                              "vat_id": "NL123456789B01",
                              "address": {"line1": "Havenstraat 88", "line2": None, "city": "Rotterdam",
                                          "postal_code": "3011 AB", "region": None, "country": "NL"}}
    assert "expand=lines%2CbillToCustomer" in paths[0], "the bill-to customer comes with the same read"


async def test_us_bill_to_site_has_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, _ = await fetched_order(monkeypatch, 6)
    assert ev["customer"]["name"] == "Pacific Air Tools Wholesale Inc."
    assert ev["customer"]["address"] == {"line1": "88 Harbor Way", "line2": None, "city": "Oakland", "postal_code": "94607",
                                         "region": "CA", "country": "US"}
    assert ev["customer"]["vat_id"] is None


async def test_bill_to_site_lines_and_country_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["billToCustomer"]["items"][0].update({"AddressLine2": "Building C", "AddressLine3": "Dock 4", "Country": "Germany"})
    ev, _ = await fetched_order(monkeypatch, 0, change)
    assert ev["customer"]["address"]["line1"] == "Hopfenweg 3"
    assert ev["customer"]["address"]["line2"] == "Building C Dock 4"
    assert ev["customer"]["address"]["country"] == "DE"


async def test_without_bill_to_customer_nothing_is_invented(monkeypatch: pytest.MonkeyPatch) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc.pop("billToCustomer")
        doc.pop("BuyingPartyName")
    ev, _ = await fetched_order(monkeypatch, 3, change)
    assert ev["customer"]["name"] == ""
    assert ev["customer"]["address"] == {"line1": "", "line2": None, "city": "", "postal_code": "", "region": None, "country": ""}
    assert ev["customer_ref"] == "oracle-fusion:7390142204", "reference data can still fill the buyer"
