"""Every platform's sample orders give a buyer an EN 16931 invoice can carry (issue #11, part 1).

Each sample order of each platform is run the way `tests/sources/test_contract.py` runs one:
verified, described, put through the raw-event codec, normalised and, for thin events, fetched
from the loopback stand-in that serves the platform's documented answers. The buyer of every
order event must have a name, an address line, a city, a postal code and an ISO 3166 alpha-2
country, the sample customer's own, and the customer's VAT id wherever the platform holds one.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from domain.codec import decode, encode
from domain.errors import IgnoredEvent
from sources.records import raw_event_record
from demo.samples import SAMPLES
from demo.samples.base import CUSTOMERS, customer_vat
from sources.base import ThinEvent
from sources.canonical import party
from tests.fakes.platform_api import FakePlatformAPI
from tests.sources.test_contract import PLATFORMS, SECRET, inbound, make_source

#: platforms whose documents hold the buyer's VAT id (a standard field, or the custom field/column
#: the source is configured with); the others have no such field and must not invent one
HOLDS_VAT_ID = {"sap", "oracle-fusion", "salesforce", "xero", "netsuite", "zoho-books", "freshbooks", "sage-intacct",
                "odoo", "magento", "stripe", "hubspot", "monday", "trello", "woocommerce"}
#: platforms whose buyer is a person rather than the company of the sample customer (PayPal's payer)
PERSON_BUYER = {"paypal"}
#: the sample customers by postal code (each is unique), to know whose buyer an order event carries
_BY_POSTCODE = {c[3][2]: c for c in CUSTOMERS}
ORDERS = range(len(CUSTOMERS))


async def order_events(platform: str, n: int, source: Any, api: FakePlatformAPI) -> list[dict[str, Any]]:
    """The order events of every request of sample order *n*, as the worker would build them, with *api*
    serving the order's documents."""
    order = SAMPLES[platform].order(n, random.Random(n), SECRET, datetime.now(timezone.utc))
    api.routes = order.api
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=5) as client:
        for req in order.requests:
            source.verify(inbound(req))
            try:
                info = source.describe(inbound(req))
            except IgnoredEvent:
                continue
            raw = decode("raw_event", encode("raw_event", raw_event_record(platform, info, inbound(req), source)))
            for item in source.normalise(raw):
                if isinstance(item, ThinEvent):
                    events.extend(await source.fetch(item, client))
                else:
                    events.append(item)
    return [decode("order_event", encode("order_event", ev)) for ev in events]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_every_sample_order_has_a_complete_buyer(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = 0
    with FakePlatformAPI() as api:
        source = make_source(platform, monkeypatch, base_url=api.url)
        events = [(n, ev) for n in ORDERS for ev in await order_events(platform, n, source, api)]
    for n, ev in events:
        seen += 1
        buyer, addr = ev["customer"], ev["customer"]["address"]
        where = f"{platform} sample order {n}: {buyer}"
        assert buyer["name"].strip(), f"no buyer name: {where}"
        assert addr["line1"].strip() and addr["city"].strip() and addr["postal_code"].strip(), f"incomplete address: {where}"
        assert re.fullmatch(r"[A-Z]{2}", addr["country"]), f"country is not ISO 3166 alpha-2: {where}"
        cust_no, name, _email, (street, city, zip_code, region, country), _cur = _BY_POSTCODE[addr["postal_code"]]
        assert (addr["line1"], addr["city"], addr["country"]) == (street, city, country), where
        if country == "US":
            assert addr["region"] == region, where
        if platform not in PERSON_BUYER:
            assert buyer["name"] == name, where
        expected_vat = customer_vat(cust_no) if platform in HOLDS_VAT_ID else None
        assert buyer["vat_id"] == expected_vat, where
    assert seen >= len(ORDERS), f"{platform}: the samples gave only {seen} order events"


def test_party_never_invents_a_name() -> None:
    buyer = party("", line1="", city="", country="")
    assert buyer["name"] == ""
    assert buyer["address"] == {"line1": "", "line2": None, "city": "", "postal_code": "", "region": None, "country": ""}
