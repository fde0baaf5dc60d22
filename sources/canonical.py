"""The canonical order event every source's `normalise` returns, and the builders for its parts.
Nothing is invented: a missing name or address stays empty, and the gate before numbering
refuses the draft with the reason (or reference data fills it)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping, Sequence, TypedDict

from domain.errors import PayloadError
from domain.money import check_currency, q4, to_decimal

__all__ = ["OrderEvent", "TRIGGERS", "order_event", "order_line", "party"]

TRIGGERS = ("PAYMENT_RECEIVED", "SHIPMENT_CONFIRMED", "STAGE_REACHED", "CYCLE_END", "ORDER_CANCELLED", "ORDER_UPDATED")


class OrderEvent(TypedDict):
    """One platform event about one order, in the canonical form (the ``order_event`` Avro record)."""

    event_key: str
    platform: str
    event_id: str
    event_type: str
    trigger: str
    occurred_at: datetime
    received_at: datetime
    order_key: str
    external_order_id: str
    order_number: str | None
    customer_ref: str | None
    customer: dict[str, Any]
    currency: str
    tax_included: bool
    lines: list[dict[str, Any]]
    shipping: Decimal
    announced_total: Decimal | None
    amount_paid: Decimal | None
    purchase_order: str | None
    dedup_keys: list[str]
    attributes: dict[str, str]


def party(name: str, *, email: str | None = None, vat_id: str | None = None, line1: str = "",
          line2: str | None = None, city: str = "", postal_code: str = "", region: str | None = None,
          country: str = "") -> dict[str, Any]:
    """The canonical buyer. Nothing is invented: a missing name or address stays empty, and the
    gate before numbering refuses the draft with the reason (or reference data fills it)."""
    return {"name": name or "", "email": email or None, "vat_id": vat_id or None,
            "address": {"line1": line1 or "", "line2": line2 or None, "city": city or "",
                        "postal_code": postal_code or "", "region": region or None,
                        "country": (country or "").upper()}}


def order_line(description: str, quantity: Any, unit_price: Any, *, sku: str | None = None,
               discount: Any = 0, tax_rate: Any = None) -> dict[str, Any]:
    """One canonical order line. Money and quantities must be exact (str/int/Decimal).

    Raises:
        PayloadError: a value that is not an exact number, or one that 4 decimals would turn into zero.
    """
    what = f"line {sku or description or ''}".strip()
    exact_qty, exact_price = to_decimal(quantity, f"{what} quantity"), to_decimal(unit_price, f"{what} unit price")
    for name, value in (("quantity", exact_qty), ("unit price", exact_price)):
        if value and not q4(value):
            raise PayloadError(f"{what} {name} {value:f} rounds to zero at 4 decimals")
    return {"sku": sku or None, "description": description or (sku or "Item"),
            "quantity": q4(exact_qty), "unit_price": q4(exact_price),
            "discount": q4(to_decimal(discount, "discount")),
            "tax_rate": q4(to_decimal(tax_rate, "tax_rate")) if tax_rate not in (None, "") else None}


def order_event(
    raw: Mapping[str, Any], *, event_id: str, trigger: str, external_order_id: str, customer: dict[str, Any],
    currency: str, lines: list[dict[str, Any]], occurred_at: datetime | None = None, order_key: str | None = None,
    order_number: str | None = None, customer_ref: str | None = None, tax_included: bool = False,
    shipping: Any = 0, announced_total: Any = None, amount_paid: Any = None, purchase_order: str | None = None,
    dedup_keys: Sequence[str] = (), attributes: Mapping[str, str] | None = None, event_type: str | None = None,
) -> OrderEvent:
    """Build a canonical `OrderEvent` record for *raw*.

    Raises:
        PayloadError: a missing or invalid field.
    """
    if trigger not in TRIGGERS:
        raise PayloadError(f"unknown trigger {trigger!r}")
    if not external_order_id:
        raise PayloadError("missing order id")
    platform = str(raw["platform"])
    return {
        "event_key": f"{platform}:{event_id}",
        "platform": platform,
        "event_id": str(event_id),
        "event_type": event_type or str(raw["event_type"]),
        "trigger": trigger,
        "occurred_at": occurred_at or raw["received_at"],
        "received_at": raw["received_at"],
        "order_key": order_key or f"{platform}:{external_order_id}",
        "external_order_id": str(external_order_id),
        "order_number": order_number,
        "customer_ref": customer_ref,
        "customer": customer,
        "currency": check_currency(currency),
        "tax_included": bool(tax_included),
        "lines": lines,
        "shipping": q4(to_decimal(shipping or 0, "shipping")),
        "announced_total": q4(to_decimal(announced_total, "total")) if announced_total not in (None, "") else None,
        "amount_paid": q4(to_decimal(amount_paid, "amount_paid")) if amount_paid not in (None, "") else None,
        "purchase_order": purchase_order or None,
        "dedup_keys": list(dedup_keys),
        "attributes": {k: str(v) for k, v in (attributes or {}).items()},
    }
