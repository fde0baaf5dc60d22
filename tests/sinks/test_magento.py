"""Magento sink against the REST stand-in: Magento's own orders invoiced and refunded (credit memo on the
invoice), other platforms' orders refused, totals and tax checked against Magento's arithmetic, routes
and bodies against webapi.xml and the Api/Data interfaces, error rendering."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from domain.errors import AuthError
from sinks.delivery import deliver
from sinks.magento import MagentoSink
from tests.fakes.targets import magento as fake_magento
from tests.fakes.targets.magento import ADMIN_TOKEN, MagentoFake
from tests.support import deliver_once, deliver_twice, find_once, sample_invoice, sink_under_test


SINK = MagentoSink
ORDER_1001 = [("KS-SC-7.5", "5", "6890"), ("KS-DRY-20", "1", "1785.5")]


def make_sink() -> MagentoSink:
    return sink_under_test(SINK)


def from_magento(doc: dict[str, Any], order: int) -> dict[str, Any]:
    """*doc* as billed for Magento order *order* (the lineage a Magento order event leaves)."""
    doc["lineage"] = [dict(doc["lineage"][0], platform="magento", order_key=f"magento:{order}")]
    doc["orders"] = [f"magento:{order}"]
    return doc


def magento_invoice() -> dict[str, Any]:
    return from_magento(sample_invoice(7, targets=("magento",), lines=ORDER_1001), 1001)


async def test_magento_order_is_invoiced_with_our_number_in_the_comment(fake: MagentoFake) -> None:
    inv = magento_invoice()
    first, second = await deliver_twice(make_sink(), inv)
    assert (first.status, second.status) == ("DELIVERED", "ALREADY_PRESENT"), first.detail
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.path == "/rest/default/V1/order/1001/invoice"
    body = json.loads(post.body, parse_float=Decimal)
    assert body["items"] == [{"order_item_id": 5001, "qty": Decimal("5.0000")}, {"order_item_id": 5002, "qty": Decimal("1.0000")}]
    assert inv["number"] in body["comment"]["comment"] and body["appendComment"] is True
    assert (fake.booked[first.external_id or ""].tax, fake.booked[first.external_id or ""].total) == (inv["tax_total"], inv["total"])


async def test_credit_note_is_a_credit_memo_on_magentos_invoice_with_shipping(fake: MagentoFake) -> None:
    inv = from_magento(sample_invoice(13, targets=("magento",)), 1002)  # two items and shipping 49.00
    note = from_magento(sample_invoice(13, targets=("magento",), document_type="CREDIT_NOTE"), 1002)
    sink = make_sink()
    try:
        invoiced = await deliver(sink, inv, sink.pipeline)
        credited = await deliver(sink, note, sink.pipeline)
        again = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert (invoiced.status, credited.status, again.status) == ("DELIVERED", "DELIVERED", "ALREADY_PRESENT"), credited.detail
    refund = next(r for r in fake.requests if r.path.endswith("/refund"))
    assert refund.path == f"/rest/default/V1/invoice/{invoiced.external_id}/refund"
    body = json.loads(refund.body, parse_float=Decimal)
    assert body["isOnline"] is False and body["arguments"] == {"shipping_amount": Decimal("49.0000")}
    assert note["number"] in body["comment"]["comment"]
    booked = fake.booked[credited.external_id or ""]
    assert (booked.kind, booked.linked_to, booked.total, booked.tax) == ("credit_note", invoiced.external_id, note["total"], note["tax_total"])
    assert again.external_id == credited.external_id and len(fake.creditmemos) == 1


async def test_fully_invoiced_order_counts_as_present_when_the_invoice_is_ours(fake: MagentoFake) -> None:
    inv = magento_invoice()
    sink = make_sink()
    try:
        ref = await sink.create_invoice(inv, inv["invoice_id"])
        again = await sink.create_invoice(inv, inv["invoice_id"])  # Magento answers "does not allow"
    finally:
        await sink.close()
    assert again == ref and len(fake.created) == 1


async def test_other_platforms_orders_are_refused_not_mirrored(fake: MagentoFake) -> None:
    inv = sample_invoice(7, targets=("magento",))
    result = await deliver_once(make_sink(), inv)
    assert result.status == "PARKED" and not result.retriable
    assert "bills no Magento order (shopify:5800000000007)" in (result.detail or "")
    assert not [r for r in fake.requests if r.method in ("POST", "PUT")]


async def test_a_total_magento_would_book_differently_is_refused(fake: MagentoFake) -> None:
    fake.orders[1001]["items"][1]["tax_amount"] = Decimal("339.24")  # Magento rounded this item's tax down
    result = await deliver_once(make_sink(), magento_invoice())
    assert result.status == "PARKED" and "magento would book 43120.24 with tax 6884.74" in (result.detail or "")
    assert not fake.created


async def test_every_route_and_body_the_sink_sends_is_in_webapi_xml(fake: MagentoFake) -> None:
    inv = from_magento(sample_invoice(13, targets=("magento",)), 1002)
    note = from_magento(sample_invoice(13, targets=("magento",), document_type="CREDIT_NOTE"), 1002)
    sink = make_sink()
    try:
        results = [await deliver(sink, doc, sink.pipeline) for doc in (inv, note, inv, note)]
    finally:
        await sink.close()
    assert [r.status for r in results] == ["DELIVERED", "DELIVERED", "ALREADY_PRESENT", "ALREADY_PRESENT"]
    services = set()
    for req in fake.requests:
        route = fake_magento.route_for(req.method, req.path.removeprefix("/rest/default"))
        assert route is not None, f"{req.method} {req.path} is in no webapi.xml route"
        services.add(route[0].rsplit("\\", 1)[1])
        if route[0] in fake_magento.BODIES:
            assert list(jsonschema.Draft202012Validator(fake_magento.BODIES[route[0]]).iter_errors(json.loads(req.body))) == []
    assert services == {"OrderRepositoryInterface::get", "InvoiceRepositoryInterface::getList", "InvoiceOrderInterface::execute",
                        "CreditmemoRepositoryInterface::getList", "RefundInvoiceInterface::execute"}
    assert fake_magento.route_for("PUT", "/V1/orders/create") is None


def test_the_body_check_fails_on_unknown_missing_and_mistyped_fields() -> None:
    schema = fake_magento.BODIES["Magento\\Sales\\Api\\RefundInvoiceInterface::execute"]

    def errors(body: Any) -> list[str]:
        return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(body)]
    good = {"items": [{"order_item_id": 5011, "qty": 2}], "isOnline": False, "arguments": {"shipping_amount": 49}}
    assert errors(good) == []
    assert errors({**good, "is_online": False}) == ["Additional properties are not allowed ('is_online' was unexpected)"]
    assert errors({**good, "items": [{"qty": 2}]}) == ["'order_item_id' is a required property"]
    assert errors({**good, "items": [{"order_item_id": "5011", "qty": 2}]}) == ["'5011' is not of type 'integer'"]


async def test_errors_are_rendered_and_never_show_the_token(fake: MagentoFake) -> None:
    inv = magento_invoice()
    fake.fail(401)
    with pytest.raises(AuthError, match="isn't authorized to access Magento_Sales::sales_invoice") as err:
        await find_once(make_sink(), inv)
    assert ADMIN_TOKEN not in str(err.value)


@pytest.mark.parametrize("n,lines,booked", [(9, None, True), (5, None, True), (2, None, True), (8, None, True),
                                            (4, [("KS-FLT-01", "1", "0.13")] * 3, False)])
async def test_magento_books_our_tax_or_refuses(fake: MagentoFake, n: int, lines: Any, booked: bool) -> None:
    """The contract's tax cases on orders placed in Magento: S 19 %, US sales tax, K + AE, JPY export, and
    three lines of 0.13 at 19 % (Magento's per-item tax: 0.06, ours 0.07: refused)."""
    inv = fake.import_order(sample_invoice(n, targets=("magento",), lines=lines))
    result = await deliver_once(make_sink(), inv)
    if booked:
        assert result.status == "DELIVERED", result.detail
        b = fake.booked[result.external_id or ""]
        assert (b.kind, b.tax, b.total) == ("invoice", inv["tax_total"], inv["total"])
    else:
        assert result.status == "PARKED" and "magento would book 0.45 with tax 0.06" in (result.detail or "")
        assert not fake.created
