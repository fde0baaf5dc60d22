"""Dataverse webhook calls (RemoteExecutionContext) for sales orders set to Fulfilled, and the Web API answers.

The context follows Microsoft.Xrm.Sdk's RemoteExecutionContext as the webhook serialises it
(``Attributes`` as key/value lists, ``OptionSetValue`` with ``__type``); the Web API document follows
``salesorder`` with ``order_details`` (salesorderdetail) expanded. Money values are JSON numbers.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "settings_env", "context", "api_route", "ORG"]

ORG = "kompressornord"
ORG_ID = "5d1c3f9e-61a2-4f0b-9a3c-2b7e0c4d8a11"
TENANT = "7f3c2a10-4b5e-4c8d-9e21-0a6b5c4d3e2f"
_BASE_TIME = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
_OSV = "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts"
_ENTITY = "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_DYNAMICS365_TENANT": TENANT, "INVOICING_DYNAMICS365_CLIENT_ID": "1b7d0c5e-9f2a-4e3b-8c1d-6a5f4e3d2c1b",
            "INVOICING_DYNAMICS365_CLIENT_SECRET": "sample-entra-secret",
            "INVOICING_DYNAMICS365_TOKEN_URL": f"/{TENANT}/oauth2/v2.0/token"}


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dynamics365/" + "/".join(map(str, parts))))


def _request(body: bytes, secret: str, request_id: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/dynamics365", body=body, headers={
        "Content-Type": "application/json", "X-Invoicing-Token": secret, "x-request-id": request_id,
        "x-ms-dynamics-organization": f"{ORG}.crm4.dynamics.com", "x-ms-dynamics-entity-name": "salesorder",
        "x-ms-dynamics-request-name": "Update", "x-ms-correlation-request-id": _guid("corr", request_id)})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a webhook call with the HttpHeader auth key."""
    return _request(body, secret, _guid("any", body.hex()[:32]))


def context(order_id: str, state: int, status: int, operation_id: str, at: datetime) -> dict[str, Any]:
    image = {"__type": _ENTITY, "Id": order_id, "LogicalName": "salesorder", "KeyAttributes": [], "RowVersion": "48213377",
             "Attributes": [{"key": "statecode", "value": {"__type": _OSV, "Value": state}},
                            {"key": "statuscode", "value": {"__type": _OSV, "Value": status}},
                            {"key": "salesorderid", "value": order_id}],
             "FormattedValues": [{"key": "statecode", "value": {0: "Active", 3: "Fulfilled", 1: "Submitted"}.get(state, "")}]}
    target = {**image, "Attributes": image["Attributes"][:2]}
    return {
        "BusinessUnitId": _guid("bu"), "CorrelationId": _guid("corr", operation_id), "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": _guid("aad"), "InitiatingUserId": _guid("user"),
        "InputParameters": [{"key": "Target", "value": target}], "IsExecutingOffline": False, "IsInTransaction": False,
        "IsOfflinePlayback": False, "IsolationMode": 1, "MessageName": "Update", "Mode": 1,
        "OperationCreatedOn": f"/Date({int(at.timestamp() * 1000)})/", "OperationId": operation_id,
        "OrganizationId": ORG_ID, "OrganizationName": ORG, "OutputParameters": [], "OwningExtension": {
            "Id": _guid("step"), "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep", "Name": "salesorder Update: invoicing webhook",
            "RowVersion": None},
        "ParentContext": None, "PostEntityImages": [{"key": "PostImage", "value": image}], "PreEntityImages": [],
        "PrimaryEntityId": order_id, "PrimaryEntityName": "salesorder", "RequestId": _guid("req", operation_id),
        "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 40, "UserAzureActiveDirectoryObjectId": _guid("aad"),
        "UserId": _guid("user"),
    }


#: Dataverse keeps countries as the text users type
_COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "NO": "Norway", "US": "United States", "JP": "Japan"}


def api_route(order_id: str) -> str:
    from sources.dynamics365 import ORDER_QUERY

    return f"GET /api/data/v9.2/salesorders({order_id})?" + urlencode(sorted(parse_qsl(urlencode(ORDER_QUERY))))


def sales_order(n: int, order_id: str, when: datetime) -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    details, total = [], Decimal("0")
    for k in range(1 + (n + 1) % 3):
        sku, title, price = CATALOGUE[(n + 4 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 3)
        total += Decimal(price) * qty
        details.append({"@odata.etag": 'W/"48213301"', "salesorderdetailid": _guid("line", order_id, k),
                        "quantity": Decimal(f"{qty}.00000"), "priceperunit": Decimal(price), "manualdiscountamount": None,
                        "productdescription": None, "extendedamount": Decimal(price) * qty,
                        "_productid_value": _guid("product", sku), "_productid_value@OData.Community.Display.V1.FormattedValue": title})
    freight = Decimal("0") if currency == "JPY" else Decimal("95.00")
    return {
        "@odata.context": f"https://{ORG}.crm4.dynamics.com/api/data/v9.2/$metadata#salesorders(order_details(),customerid_account(),transactioncurrencyid())/$entity",
        "@odata.etag": 'W/"48213377"', "salesorderid": order_id, "ordernumber": f"ORD-{n + 1000:05d}-K7Q2M4",
        "name": f"{name} — air receiver and dryer package", "totalamount": total + freight, "totallineitemamount": total,
        "freightamount": freight, "statecode": 3, "statecode@OData.Community.Display.V1.FormattedValue": "Fulfilled",
        "modifiedon": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "order_details": details,
        "billto_name": name, "billto_line1": street, "billto_line2": None, "billto_line3": None, "billto_city": city,
        "billto_postalcode": zip_code, "billto_stateorprovince": region, "billto_country": _COUNTRY_NAMES.get(country, country),
        "customerid_account": {"accountid": _guid("account", cust_no), "name": name, "accountnumber": cust_no,
                               "emailaddress1": email, "address1_line1": street, "address1_line2": None, "address1_city": city,
                               "address1_postalcode": zip_code, "address1_stateorprovince": region,
                               "address1_country": _COUNTRY_NAMES.get(country, country)},
        "transactioncurrencyid": {"transactioncurrencyid": _guid("currency", currency), "isocurrencycode": currency},
    }


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Fulfilled (issuing), after an earlier Submitted update (ignored); Dataverse sometimes retries."""
    order_id = _guid("salesorder", n)
    when = _BASE_TIME + timedelta(minutes=17 * (n % 1000))
    fulfilled_op = _guid("op", order_id, "fulfilled")
    fulfilled = _request(dumps_exact(context(order_id, 3, 100003, fulfilled_op, when)).encode(), secret, _guid("req", fulfilled_op))
    submitted_op = _guid("op", order_id, "submitted")
    submitted = _request(dumps_exact(context(order_id, 1, 3, submitted_op, when - timedelta(hours=3))).encode(), secret,
                         _guid("req", submitted_op))
    doc = sales_order(n, order_id, when)
    api = {f"POST /{TENANT}/oauth2/v2.0/token": {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                                 "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.sample.sample"},
           api_route(order_id): dumps_exact(doc).encode()}
    return SampleOrder(platform="dynamics365", order_ref=f"dynamics365:{order_id}", requests=[fulfilled, submitted],
                       redeliveries=[fulfilled] if rng.random() < 0.3 else [], api=api,
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=order_id,
                                         currency=doc["transactioncurrencyid"]["isocurrencycode"],
                                         line_count=len(doc["order_details"]), order_key=f"dynamics365:{order_id}"))
