"""HubSpot sink against the HubSpot stand-in: exact amounts, unique number property, resume, private app token.

OAuth refresh and secrets in errors: tests/sinks/test_common.py."""
from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from invoicing.settings import platform_settings
from sinks.delivery import deliver
from sinks.hubspot import HubSpotSettings, HubSpotSink, invoice_properties
from tests.fakes.targets import hubspot as fake_hs
from tests.support import deliver_once, sample_invoice, sink_under_test


SINK = HubSpotSink


def make_sink() -> HubSpotSink:
    return sink_under_test(SINK)


async def test_body_is_exact_and_opened(fake: fake_hs.HubSpotFake) -> None:
    inv = sample_invoice(71, targets=("hubspot",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    p = doc["properties"]
    assert p["hs_invoice_status"] == "open" and p[fake_hs.NUMBER_PROPERTY] == inv["number"]
    assert p["hs_currency"] == inv["currency"] and p["hs_invoice_date"] == inv["issue_date"].isoformat()
    assert p["hs_due_date"] == inv["due_date"].isoformat()
    assert Decimal(p["hs_amount_billed"]) == inv["total"]
    items = [fake.objects["line_items"][i]["properties"] for k, i in fake.assoc[doc["id"]] if k == "line_items"]
    assert len(items) == len(inv["lines"]) + len(inv["tax_breakdown"])
    assert sum(Decimal(i["price"]) for i in items if i["name"].startswith("VAT")) == inv["tax_total"]


async def test_crash_mid_way_resumes_without_duplicates(fake: fake_hs.HubSpotFake) -> None:
    inv = sample_invoice(72, targets=("hubspot",))
    sink = make_sink()
    try:
        contact = await sink._contact(inv)
        r = await sink._call("POST", "/crm/v3/objects/invoices", "create", {
            "properties": invoice_properties(inv, "invoicing_number"), "associations": [
                {"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 177}]}]})
        assert await sink.find_invoice(inv, inv["invoice_id"]) is None
        result = await deliver(sink, inv, sink.pipeline)
        again = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED" and result.external_id == r.json()["id"]
    assert again.status == "ALREADY_PRESENT" and len(fake.created) == 1 and len(fake.objects["contacts"]) == 1


async def test_unknown_property_is_rejected_with_hubspots_message(fake: fake_hs.HubSpotFake,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_HUBSPOT_NUMBER_PROPERTY", "no_such_property")
    inv = sample_invoice(73, targets=("hubspot",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "PROPERTY_DOESNT_EXIST" in (result.detail or "") or "does not exist" in (result.detail or "")


def test_private_app_token_is_a_static_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_HUBSPOT_ACCESS_TOKEN", "pat-na1-secret-token")
    sink = HubSpotSink(platform_settings("hubspot", HubSpotSettings), httpx.AsyncClient())
    assert "pat-na1-secret-token" not in repr(sink.auth)
