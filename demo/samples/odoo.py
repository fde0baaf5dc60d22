"""Odoo 17+ automation-rule webhooks on sale.order and the JSON-2 API answers (``/json/2/<model>/read``).

The webhook body is what ``ir.actions.server._run_action_webhook`` posts: ``_action``, ``_id``,
``_model`` and the selected fields read with ``load=None``, keys sorted; amounts are JSON numbers,
empty values ``false``. The JSON-2 ``read`` answers many2one fields as ``[id, display_name]``.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "webhook"]

DATABASE = "kompressor-nord-prod"
_BASE_TIME = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
_CURRENCIES = {"EUR": 1, "USD": 2, "JPY": 25}
_COUNTRIES = {"DE": (57, "Germany"), "FR": (75, "France"), "NL": (165, "Netherlands"), "NO": (166, "Norway"),
              "US": (233, "United States"), "JP": (113, "Japan")}


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_ODOO_API_KEY": "8c1f0b5e3d2a4f6b9e7c1d0a2b3c4d5e6f7a8b9c", "INVOICING_ODOO_TENANT": DATABASE}


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* posted to the webhook URL that carries the secret token."""
    return SampleRequest(path="/webhooks/odoo", body=body, query=urlencode({"token": secret}),
                         headers={"Content-Type": "application/json", "User-Agent": "python-requests/2.31.0"})


def webhook(so_id: int, state: str, invoice_status: str, write: datetime, lines: list[int], total: Decimal,
            partner: int, currency: str) -> bytes:
    doc = {"_action": "Send to invoicing pipeline(#412)", "_id": so_id, "_model": "sale.order",
           "amount_total": total, "currency_id": _CURRENCIES[currency], "id": so_id, "invoice_status": invoice_status,
           "name": f"S{so_id:05d}", "order_line": lines, "partner_id": partner, "state": state,
           "write_date": write.strftime("%Y-%m-%d %H:%M:%S")}
    return dumps_exact(dict(sorted(doc.items()))).encode()


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Confirmed (state sale, nothing to invoice yet: ignored), then delivered (to invoice: issuing)."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    so_id, partner_id = 3100 + n, 840 + n % len(CUSTOMERS)
    when = _BASE_TIME + timedelta(minutes=5 * (n % 1000))
    rows: list[dict[str, Any]] = []
    total = Decimal("0")
    for k in range(1 + n % 4):
        sku, title, price = CATALOGUE[(n + 6 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 3)
        discount = Decimal(rng.choice(["0.0", "0.0", "10.0"]))
        total += (Decimal(price) * qty * (100 - discount) / 100 * Decimal("1.19")).quantize(Decimal("0.01"))
        rows.append({"id": 9000 + so_id * 10 + k, "name": f"[{sku}] {title}", "product_id": [700 + k, f"[{sku}] {title}"],
                     "product_uom_qty": qty, "qty_to_invoice": qty, "price_unit": Decimal(price), "discount": discount,
                     "display_type": False})
    rows.append({"id": 9000 + so_id * 10 + 9, "name": "Delivery by freight forwarder", "product_id": False,
                 "product_uom_qty": Decimal("0.0"), "qty_to_invoice": Decimal("0.0"), "price_unit": Decimal("0.0"),
                 "discount": Decimal("0.0"), "display_type": "line_note"})
    ids = [r["id"] for r in rows]
    to_invoice = webhook(so_id, "sale", "to invoice", when, ids, total, partner_id, currency)
    confirmed = webhook(so_id, "sale", "no", when - timedelta(days=2), ids, total, partner_id, currency)
    so = {"id": so_id, "name": f"S{so_id:05d}", "state": "sale", "invoice_status": "to invoice",
          "currency_id": [_CURRENCIES[currency], currency], "partner_invoice_id": [partner_id, name], "order_line": ids,
          "amount_total": total, "client_order_ref": f"PO-{6600 + n}" if n % 2 else False,
          "date_order": (when - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S"), "write_date": when.strftime("%Y-%m-%d %H:%M:%S")}
    cid, cname = _COUNTRIES.get(country, (0, country))
    partner = {"id": partner_id, "name": name, "email": email, "vat": customer_vat(cust_no) or False, "ref": cust_no, "street": street,
               "street2": False, "city": city, "zip": zip_code, "state_id": [1, region] if region else False,
               "country_code": country}
    api = {"POST /json/2/sale.order/read": dumps_exact([so]).encode(),
           "POST /json/2/res.partner/read": json.dumps([partner]).encode(),
           "POST /json/2/sale.order.line/read": dumps_exact(rows).encode()}
    reqs = [signed(to_invoice, secret, at or when), signed(confirmed, secret, at or when)]
    return SampleOrder(platform="odoo", order_ref=f"odoo:{so_id}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.2 else [], api=api,
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=str(so_id), currency=currency,
                                         line_count=len(rows) - 1, order_key=f"odoo:{so_id}"))
