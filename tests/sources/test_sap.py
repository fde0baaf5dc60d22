"""SAP CloudEvents: structured and binary mode, Basic secret, delivery status decides after the fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from demo.samples import sap as samples
from demo.samples.base import CUSTOMERS
from sources.base import ThinEvent
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)


def raw_of(req: Any, source: Any) -> dict[str, Any]:
    info = source.describe(inbound(req))
    headers = {k.lower(): v for k, v in req.headers.items() if k.lower() in (*source.keep_headers, "content-type")}
    return {"platform": "sap", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
            "headers": headers, "body": req.body}


def test_binary_and_structured_mode_give_the_same_event(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    event = samples.cloudevent("9000042", "0b1e5a1c-2f4d-4c39-9a7e-1b2c3d4e5f60", NOW, "7390142201")
    structured = samples.signed(json.dumps(event).encode(), SECRET, NOW)
    binary = samples.binary(event, SECRET)
    assert "ce-id" in {k.lower() for k in binary.headers}
    for req in (structured, binary):
        source.verify(inbound(req))
        info = source.describe(inbound(req))
        assert (info.event_id, info.event_type) == (event["id"], samples.CHANGED)
        thin = source.normalise(raw_of(req, source))
        assert isinstance(thin[0], ThinEvent) and thin[0].resource_id == "9000042"


def test_wrong_basic_password_and_missing_auth_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    req = samples.order(1, random.Random(1), "wrong").requests[0]
    with pytest.raises(SignatureError):
        source.verify(inbound(req))
    bare = samples.signed(req.body, SECRET, NOW)
    with pytest.raises(SignatureError):
        source.verify(inbound(type(bare)(bare.path, bare.body, {"Content-Type": "application/cloudevents+json"})))
    token = samples.signed(req.body, SECRET, NOW)
    source.verify(inbound(type(token)(token.path, token.body, {"X-Invoicing-Token": SECRET})))


@pytest.mark.parametrize("change", [{"type": "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"}])
def test_other_event_types_are_ignored(change: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    event = {**samples.cloudevent("9000042", "id-1", NOW, "7390142201"), **change}
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(samples.signed(json.dumps(event).encode(), SECRET, NOW)))


@pytest.mark.parametrize("body", [b'{"specversion": "0.3", "id": "1", "type": "t", "source": "s", "data": {"SalesOrder": "1"}}',
                                  b'{"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data": {}}', b"[]"])
def test_not_a_sales_order_cloudevent(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sap", monkeypatch)
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(body, SECRET, NOW)))


@pytest.mark.parametrize(("delivery", "rejection", "trigger"), [("C", "A", "SHIPMENT_CONFIRMED"), ("B", "A", None),
                                                                 ("A", "C", "ORDER_CANCELLED")])
async def test_status_after_fetch_decides(delivery: str, rejection: str, trigger: str | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    so_id = order.expected.external_order_id
    doc = samples.sales_order(3, so_id, NOW, delivery=delivery)
    doc["d"]["OverallSDProcessStatus"] = delivery
    doc["d"]["OverallSDDocumentRejectionSts"] = rejection
    with FakePlatformAPI(routes={samples.api_route(so_id): doc}) as api:
        source = make_source("sap", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            events = await source.fetch(thin, client)
        assert api.requests[0].headers["authorization"].startswith("Basic ")
    assert [e["trigger"] for e in events] == ([trigger] if trigger else [])


async def test_fetch_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(3, random.Random(3), SECRET)
    with FakePlatformAPI(routes=order.api, fail_next=1, fail_status=503) as api:
        source = make_source("sap", monkeypatch, base_url=api.url)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert err.value.retriable
            api.fail_next, api.fail_status = 1, 404
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)
            assert not err.value.retriable


# -- buyer data: the sales order's partners and their addresses, the business partner API -------------

async def fetch_order(monkeypatch: pytest.MonkeyPatch, n: int, doc: dict[str, Any] | None = None,
                      bp: Any = None, read_business_partner: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Fetch sample order *n* (its sales order answer replaced by *doc*, its business partner by *bp*);
    the order event and the paths the source requested."""
    order = samples.order(n, random.Random(n), SECRET)
    so_id = order.expected.external_order_id
    cust_no = CUSTOMERS[n % len(CUSTOMERS)][0]
    routes = dict(order.api)
    if doc is not None:
        routes[samples.api_route(so_id)] = doc
    if bp is not None:
        routes[samples.bp_route(cust_no)] = bp
    with FakePlatformAPI(routes=routes) as api:
        source = source_from_env("sap", monkeypatch, SECRET, base_url=api.url, read_business_partner=read_business_partner)
        thin = source.normalise(raw_of(order.requests[0], source))[0]
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient(timeout=5) as client:
            events = await source.fetch(thin, client)
    return events[0], [r.path for r in api.requests]


def bill_to(doc: dict[str, Any], function: str = "RE") -> dict[str, Any]:
    return next(p for p in doc["d"]["to_Partner"]["results"] if p["PartnerFunction"] == function)


async def test_buyer_from_partner_address_and_business_partner_tax_number(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, paths = await fetch_order(monkeypatch, 0)
    assert ev["customer"] == {"name": "Brauerei Albrecht KG", "email": "buchhaltung@brauerei-albrecht.de",
                              "vat_id": "DE129273398",
                              "address": {"line1": "Hopfenweg 3", "line2": None, "city": "Bamberg", "postal_code": "96047",
                                          "region": None, "country": "DE"}}
    assert ev["customer_ref"] == "sap:7390142201"
    assert "to_Partner%2Fto_Address" in paths[0] or "to_Partner/to_Address" in paths[0], "one read brings the partner addresses"
    assert paths[1].startswith("/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('7390142201')?"), \
        "the VAT id missing on the order is read from the business partner's tax numbers"
    assert "to_BusinessPartnerTax" in paths[1]


async def test_us_buyer_number_first_street_and_state(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, _ = await fetch_order(monkeypatch, 5)
    assert ev["customer"]["name"] == "Gulf Coast Fabrication LLC"
    assert ev["customer"]["address"] == {"line1": "1200 Ship Channel Rd", "line2": None, "city": "Pasadena",
                                         "postal_code": "77506", "region": "TX", "country": "US"}
    assert ev["customer"]["vat_id"] is None


async def test_vat_registration_on_the_order_needs_no_business_partner_read(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.sales_order(2, samples.order(2, random.Random(2), SECRET).expected.external_order_id, NOW)
    bill_to(doc)["VATRegistration"] = "NL123456789B01"
    ev, paths = await fetch_order(monkeypatch, 2, doc)
    assert ev["customer"]["vat_id"] == "NL123456789B01"
    assert ev["customer"]["address"]["line1"] == "Havenstraat 88" and ev["customer"]["address"]["country"] == "NL"
    assert not any("API_BUSINESS_PARTNER" in p for p in paths)


async def test_bill_to_party_is_the_buyer_not_the_sold_to(monkeypatch: pytest.MonkeyPatch) -> None:
    so_id = samples.order(1, random.Random(1), SECRET).expected.external_order_id
    doc = samples.sales_order(1, so_id, NOW)
    re_partner = bill_to(doc)
    re_partner["Customer"] = re_partner["ReferenceBusinessPartner"] = "7390142205"
    re_partner["VATRegistration"] = "DE811222333"
    re_partner["to_Address"]["results"][0].update(samples.partner_address(4, so_id, "RE"))
    ev, _ = await fetch_order(monkeypatch, 1, doc)
    assert ev["customer"]["name"] == "Metallbau Steiner GmbH"
    assert ev["customer"]["address"]["city"] == "Stuttgart" and ev["customer"]["vat_id"] == "DE811222333"
    assert ev["customer_ref"] == "sap:7390142205"
    assert ev["attributes"]["sold_to_party"] == "7390142202"


async def test_business_partner_address_fills_a_partner_without_address(monkeypatch: pytest.MonkeyPatch) -> None:
    so_id = samples.order(1, random.Random(1), SECRET).expected.external_order_id
    doc = samples.sales_order(1, so_id, NOW)
    for p in doc["d"]["to_Partner"]["results"]:
        p.pop("to_Address")
    ev, paths = await fetch_order(monkeypatch, 1, doc)
    assert ev["customer"]["name"] == "Ateliers Mécaniques Dubois SAS"
    assert ev["customer"]["address"] == {"line1": "14 Rue de l'Industrie", "line2": None, "city": "Lyon",
                                         "postal_code": "69007", "region": None, "country": "FR"}
    assert ev["customer"]["vat_id"] == "FR40303265045"
    assert any("A_BusinessPartner('7390142202')" in p for p in paths)


async def test_without_business_partner_reads_nothing_is_invented(monkeypatch: pytest.MonkeyPatch) -> None:
    so_id = samples.order(1, random.Random(1), SECRET).expected.external_order_id
    doc = samples.sales_order(1, so_id, NOW)
    for p in doc["d"]["to_Partner"]["results"]:
        p.pop("to_Address")
    ev, paths = await fetch_order(monkeypatch, 1, doc, read_business_partner="false")
    assert not any("API_BUSINESS_PARTNER" in p for p in paths)
    assert ev["customer"]["name"] == "", "never the partner number, never 'Unknown customer'"
    assert ev["customer"]["address"]["line1"] == "" and ev["customer"]["address"]["country"] == ""
    assert ev["customer_ref"] == "sap:7390142202", "reference data can still fill the buyer"


async def test_business_partner_not_found_keeps_what_the_order_has(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, _ = await fetch_order(monkeypatch, 0, bp=(404, {"error": {"code": "/IWBEP/CM_MGW_RT/020", "message": "not found"}}))
    assert ev["customer"]["address"]["city"] == "Bamberg" and ev["customer"]["vat_id"] is None


async def test_business_partner_outage_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FetchError) as err:
        await fetch_order(monkeypatch, 0, bp=(503, {"error": "unavailable"}))
    assert err.value.retriable
