"""Oracle Fusion order status events as our OIC flow forwards them, and the salesOrdersForOrderHub answers.

The REST answer follows the Order Management resource ``salesOrdersForOrderHub`` with
``expand=lines,billToCustomer`` and ``onlyData=true`` (child collections under ``lines.items`` and
``billToCustomer.items``; numbers as JSON numbers). The bill-to customer carries the account, its
bill-to site address and the lines the customer's tax registration (EU business buyers).
"""
from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "event", "api_route", "bill_to_customer"]

_BASE_TIME = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_ORACLE_FUSION_USERNAME": "svc_invoicing", "INVOICING_ORACLE_FUSION_PASSWORD": "sample-fusion-password"}


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    return SampleRequest(path="/webhooks/oracle-fusion", body=body, headers={
        "Content-Type": "application/json", "X-Invoicing-Token": secret,
        "User-Agent": "Oracle Integration Cloud REST Adapter"})


def event(header_id: int, number: str, status: str, when: datetime) -> dict[str, Any]:
    return {"schema": "invoicing.oracle-fusion.order-status/1",
            "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"oracle-fusion/{header_id}/{status}")),
            "eventName": "OrderStatusUpdated", "occurredAt": when.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
            "headerId": header_id, "orderNumber": number, "sourceTransactionNumber": f"R13_SO_{number}",
            "sourceTransactionSystem": "OPS", "statusCode": status}


def api_route(header_id: int) -> str:
    return f"GET /fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub/{header_id}?expand=lines%2CbillToCustomer&onlyData=true"


def bill_to_customer(n: int) -> dict[str, Any]:
    """The ``billToCustomer`` child of sample customer *n*: account, party and bill-to site address."""
    cust_no, name, _email, (street, city, zip_code, region, country), _currency = CUSTOMERS[n % len(CUSTOMERS)]
    k = n % len(CUSTOMERS)
    return {"AddressId": 300_000_046_120_000 + k, "CustomerAccountId": 300_000_046_110_000 + k,
            "AccountNumber": f"{10_300 + k}", "PartyId": 300_000_046_100_000 + k, "PartyName": name,
            "PartyNumber": cust_no, "PartyType": "ORGANIZATION", "SiteUseId": 300_000_046_130_000 + k,
            "SiteId": 300_000_046_140_000 + k, "AddressLine1": street, "AddressLine2": None, "AddressLine3": None,
            "AddressLine4": None, "City": city, "PostalCode": zip_code, "State": region if country == "US" else None,
            "Province": None, "County": None, "Country": country, "ContactId": None, "ContactName": None}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """AWAITING_BILLING (issuing), after OPEN (ignored)."""
    cust_no, name, email, _addr, currency = CUSTOMERS[n % len(CUSTOMERS)]
    header_id, number = 300_000_271_880_000 + n, str(520_000 + n)
    when = _BASE_TIME + timedelta(minutes=10 * (n % 1000))
    items, total = [], Decimal("0")
    for k in range(1 + (n + 3) % 3):
        sku, title, price = CATALOGUE[(n + k * 2 + 1) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 4)
        total += Decimal(price) * qty
        items.append({"LineId": header_id + 10 + k, "FulfillLineId": header_id + 20 + k, "SourceTransactionLineNumber": str(k + 1),
                      "ProductNumber": sku, "ProductDescription": title, "OrderedQuantity": qty, "OrderedUOM": "Each",
                      "UnitSellingPrice": Decimal(price), "UnitListPrice": Decimal(price), "ExtendedAmount": Decimal(price) * qty,
                      "StatusCode": "AWAITING_BILLING", "TransactionCategoryCode": "ORDER",
                      "FirstPartyTaxRegistrationNumber": "DE811569869", "ThirdPartyTaxRegistrationNumber": customer_vat(cust_no)})
    so = {"HeaderId": header_id, "OrderNumber": number, "SourceTransactionNumber": f"R13_SO_{number}",
          "SourceTransactionSystem": "OPS", "BusinessUnitName": "Kompressor Nord DE BU", "BuyingPartyName": name,
          "BuyingPartyNumber": cust_no, "BuyingPartyContactEmail": email, "CustomerPONumber": f"PO-{3300 + n}",
          "TransactionalCurrencyCode": currency, "TransactionOn": (when - timedelta(days=4)).isoformat(),
          "StatusCode": "AWAITING_BILLING", "TotalAmount": total, "LastUpdateDate": when.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
          "lines": {"items": items, "count": len(items), "hasMore": False, "limit": 25, "offset": 0},
          "billToCustomer": {"items": [bill_to_customer(n)], "count": 1, "hasMore": False, "limit": 25, "offset": 0}}
    reqs = [signed(json.dumps(event(header_id, number, "AWAITING_BILLING", when)).encode(), secret, at or when),
            signed(json.dumps(event(header_id, number, "OPEN", when - timedelta(days=4))).encode(), secret, at or when)]
    return SampleOrder(platform="oracle-fusion", order_ref=f"oracle-fusion:{header_id}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.3 else [], api={api_route(header_id): dumps_exact(so).encode()},
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=str(header_id), currency=currency,
                                         line_count=len(items), order_key=f"oracle-fusion:{header_id}"))
