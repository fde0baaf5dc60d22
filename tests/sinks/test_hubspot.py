"""HubSpot sink against the HubSpot stand-in: VAT as line-item tax rates, exact amounts, unique number property,
resume, private app token.

OAuth refresh and secrets in errors: tests/sinks/test_common.py. Requests against the spec:
tests/sinks/test_hubspot_spec.py."""
from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from domain.errors import InvoiceRejected
from demo.samples.invoices import demo_reference
from domain.settings import Settings, platform_settings
from sinks.delivery import deliver
from sinks.hubspot import HubSpotSettings, HubSpotSink, invoice_properties
from tests.fakes.targets import hubspot as fake_hs
from tests.support import create_once, deliver_once, sample_invoice, sink_under_test


SINK = HubSpotSink


def make_sink() -> HubSpotSink:
    return sink_under_test(SINK)


async def test_vat_reaches_hubspot_as_line_item_tax_rates(fake: fake_hs.HubSpotFake) -> None:
    inv = sample_invoice(13, targets=("hubspot",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    (doc,) = fake.created.values()
    p = doc["properties"]
    assert p["hs_invoice_status"] == "open" and p[fake_hs.NUMBER_PROPERTY] == inv["number"]
    assert p["hs_currency"] == inv["currency"] and p["hs_invoice_date"] == inv["issue_date"].isoformat()
    assert p["hs_due_date"] == inv["due_date"].isoformat()
    assert Decimal(p["hs_amount_billed"]) == inv["total"]
    items = [fake.objects["line_items"][i]["properties"] for k, i in fake.assoc[doc["id"]] if k == "line_items"]
    assert sorted(i["name"] for i in items) == sorted(ln["description"] for ln in inv["lines"]), "no VAT line item"
    assert {i["hs_tax_rate_group_id"] for i in items} == {fake_hs.TAX_RATES["S:19"]}
    assert (fake.booked[doc["id"]].tax, fake.booked[doc["id"]].total) == (inv["tax_total"], inv["total"])
    tax_reads = [r.path for r in fake.requests if r.path.startswith("/tax-rates/")]
    assert tax_reads == [f"/tax-rates/v1/tax-rates/{fake_hs.TAX_RATES['S:19']}"]


async def test_zero_rated_lines_carry_no_tax_rate(fake: fake_hs.HubSpotFake) -> None:
    inv = sample_invoice(2, targets=("hubspot",))  # K and AE at 0 %
    assert (await deliver_once(make_sink(), inv)).status == "DELIVERED"
    assert not any("hs_tax_rate_group_id" in li["properties"] for li in fake.objects["line_items"].values())
    assert not [r for r in fake.requests if r.path.startswith("/tax-rates/")]


def test_every_rate_the_reference_data_produces_needs_a_tax_rate(fake: fake_hs.HubSpotFake,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    taxes = demo_reference().possible_taxes()
    assert make_sink().tax_mapping_gaps(taxes) == []
    monkeypatch.setenv("INVOICING_HUBSPOT_TAX_RATES", '{"S:19": "9101"}')
    assert make_sink().tax_mapping_gaps(taxes) == [f'INVOICING_HUBSPOT_TAX_RATES has no entry "S:{r}"'
                                                   for r in ("4", "6.25", "6.5", "7.25")]


async def test_a_tax_rate_hubspot_holds_at_another_percentage_is_refused(fake: fake_hs.HubSpotFake) -> None:
    fake.tax_rate_groups[fake_hs.TAX_RATES["S:19"]]["percentageRate"] = 16.0
    result = await deliver_once(make_sink(), sample_invoice(13, targets=("hubspot",)))
    assert result.status == "PARKED" and not result.retriable
    assert "INVOICING_HUBSPOT_TAX_RATES 'S:19'" in (result.detail or "") and "16.0 %" in (result.detail or "")
    assert not fake.created


async def test_per_line_rounding_that_misses_our_tax_is_refused_before_anything_is_created(fake: fake_hs.HubSpotFake) -> None:
    inv = sample_invoice(4, targets=("hubspot",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    with pytest.raises(InvoiceRejected, match="S:19: 0.06 per line, 0.07 on the group"):
        await create_once(make_sink(), inv)
    assert not fake.requests


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
    sink = HubSpotSink(platform_settings("hubspot", HubSpotSettings), httpx.AsyncClient(), Settings())
    assert "pat-na1-secret-token" not in repr(sink.auth)
