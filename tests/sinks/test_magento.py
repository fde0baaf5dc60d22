"""Magento sink against the REST stand-in: own orders, mirrored orders, over-invoicing refusal, error rendering."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from invoicing.errors import AuthError
from sinks.magento import MagentoSink
from tests.fakes.targets.magento import ADMIN_TOKEN, MagentoFake
from tests.support import deliver_once, deliver_twice, find_once, sample_invoice, sink_under_test


SINK = MagentoSink


def make_sink() -> MagentoSink:
    return sink_under_test(SINK)


def magento_invoice() -> dict:
    inv = sample_invoice(7, targets=("magento",))
    inv["lineage"] = [dict(inv["lineage"][0], platform="magento", order_key="magento:1001")]
    inv["lines"] = inv["lines"][:2]  # the two items of Magento order 1001
    return inv


async def test_magento_order_is_invoiced_with_our_number_in_the_comment(fake: MagentoFake) -> None:
    inv = magento_invoice()
    first, second = await deliver_twice(make_sink(), inv)
    assert (first.status, second.status) == ("DELIVERED", "ALREADY_PRESENT"), first.detail
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.path == "/rest/default/V1/order/1001/invoice"
    body = json.loads(post.body, parse_float=Decimal)
    assert body["items"] == [{"order_item_id": 5001, "qty": Decimal("5.00")}, {"order_item_id": 5002, "qty": Decimal("1.00")}]
    assert inv["number"] in body["comment"]["comment"] and body["appendComment"] is True
    assert not any(r.method == "PUT" for r in fake.requests)  # no mirror order for Magento's own orders


async def test_fully_invoiced_order_counts_as_present(fake: MagentoFake) -> None:
    inv = magento_invoice()
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        again = await sink.create_invoice(inv, inv["invoice_id"])  # Magento answers "does not allow"
    finally:
        await sink.close()
    assert again == ref and len(fake.created) == 1


async def test_other_platforms_orders_are_mirrored_with_exact_amounts(fake: MagentoFake) -> None:
    inv = sample_invoice(7, targets=("magento",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "DELIVERED", result.detail
    put = next(r for r in fake.requests if r.method == "PUT")
    entity = json.loads(put.body, parse_float=Decimal)["entity"]
    assert entity["ext_order_id"] == inv["number"] and entity["order_currency_code"] == "EUR"
    assert entity["grand_total"] == inv["total"] and entity["tax_amount"] == inv["tax_total"]
    assert [(i["name"], i["qty_ordered"], i["price"]) for i in entity["items"]] == \
        [(ln["description"], ln["quantity"], ln["unit_price"]) for ln in inv["lines"]]


async def test_mirroring_can_be_switched_off(fake: MagentoFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_MAGENTO_MIRROR_ORDERS", "false")
    inv = sample_invoice(7, targets=("magento",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and "Magento only invoices its own orders" in (result.detail or "")


async def test_errors_are_rendered_and_never_show_the_token(fake: MagentoFake) -> None:
    inv = magento_invoice()
    fake.fail(401)
    with pytest.raises(AuthError, match="isn't authorized to access Magento_Sales::sales_invoice") as err:
        await find_once(make_sink(), inv)
    assert ADMIN_TOKEN not in str(err.value)
