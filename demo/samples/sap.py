"""SAP S/4HANA sales order CloudEvents (as Event Mesh pushes them) and the API_SALES_ORDER_SRV answers.

Envelope per CloudEvents 1.0 with SAP's ``sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1`` type and
its lean ``data``; the OData V2 document follows A_SalesOrder / A_SalesOrderItem / A_SalesOrderHeaderPartner
with each partner's A_SalesOrderPartnerAddress (decimals as strings, ``/Date(ms)/`` dates, ``results``
arrays for expanded collections). The partners carry no ``VATRegistration`` (as is common), so the
source reads the buyer's tax numbers from API_BUSINESS_PARTNER (A_BusinessPartner with
to_BusinessPartnerAddress and to_BusinessPartnerTax), which these samples answer too.
Odd orders come in structured mode, even ones in binary mode.
"""
from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "cloudevent", "sales_order", "api_route", "bp_route", "business_partner",
           "partner_address", "split_street"]

SOURCE = "/default/sap.s4.beh/S4HCLNT100"
_BASE_TIME = datetime(2026, 11, 23, 6, 15, tzinfo=timezone.utc)
CHANGED = "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1"
SVC = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
BP_SVC = "/sap/opu/odata/sap/API_BUSINESS_PARTNER"
#: SAP tax number categories of the sample buyers' VAT ids
_VAT_TAX_TYPE = {"DE": "DE0", "FR": "FR0", "NL": "NL0"}


def _auth(secret: str) -> str:
    return "Basic " + base64.b64encode(f"EVENTMESH_WEBHOOK:{secret}".encode()).decode()


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_SAP_USERNAME": "COMM_USER_INVOICING", "INVOICING_SAP_PASSWORD": "sample-comm-password"}


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a structured-mode CloudEvent pushed with the webhook's Basic credentials."""
    return SampleRequest(path="/webhooks/sap", body=body,
                         headers={"Content-Type": "application/cloudevents+json", "Authorization": _auth(secret)})


def cloudevent(sales_order: str, event_id: str, at: datetime, cust_no: str, event_type: str = CHANGED) -> dict[str, Any]:
    return {"specversion": "1.0", "type": event_type, "source": SOURCE, "subject": f"SalesOrder/{sales_order}",
            "id": event_id, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "datacontenttype": "application/json",
            "data": {"SalesOrder": sales_order, "SalesOrderType": "OR", "SalesOrganization": "1010",
                     "DistributionChannel": "10", "OrganizationDivision": "00", "SoldToParty": cust_no}}


def binary(event: dict[str, Any], secret: str) -> SampleRequest:
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers.update({"Content-Type": "application/json", "Authorization": _auth(secret)})
    return SampleRequest(path="/webhooks/sap", body=json.dumps(event["data"]).encode(), headers=headers)


def api_route(sales_order: str) -> str:
    query = urlencode(sorted(parse_qsl(urlencode({"$expand": "to_Item,to_Partner,to_Partner/to_Address", "$format": "json"}))))
    return f"GET {SVC}/A_SalesOrder('{sales_order}')?{query}"


def bp_route(partner: str) -> str:
    query = urlencode(sorted(parse_qsl(urlencode({"$expand": "to_BusinessPartnerAddress,to_BusinessPartnerTax",
                                                  "$format": "json"}))))
    return f"GET {BP_SVC}/A_BusinessPartner('{partner}')?{query}"


def split_street(street: str, country: str) -> tuple[str, str]:
    """A one-line street as SAP's ``StreetName`` and ``HouseNumber``."""
    parts = street.split()
    if country in ("US", "FR", "JP") and len(parts) > 1:
        return " ".join(parts[1:]), parts[0]
    if len(parts) > 1 and parts[-1][0].isdigit():
        return " ".join(parts[:-1]), parts[-1]
    return street, ""


def _address_fields(n: int) -> dict[str, Any]:
    _cust_no, name, email, (street, city, zip_code, region, country), _currency = CUSTOMERS[n % len(CUSTOMERS)]
    street_name, house = split_street(street, country)
    names = [name[:40], name[40:80]]  # SAP splits long names over Name 1..4 (40 characters each)
    return {"OrganizationName1": names[0], "OrganizationName2": names[1], "OrganizationName3": "", "OrganizationName4": "",
            "CityName": city, "DistrictName": "", "PostalCode": zip_code, "StreetName": street_name, "HouseNumber": house,
            "StreetPrefixName1": "", "StreetSuffixName1": "", "Country": country, "Region": region or "",
            "POBox": "", "POBoxPostalCode": "", "EmailAddress": email, "TaxJurisdiction": "", "TransportZone": ""}


def partner_address(n: int, sales_order_id: str, function: str) -> dict[str, Any]:
    """A_SalesOrderPartnerAddress of the order's partner *function* (the customer's master address)."""
    return {"__metadata": {"id": f"{SVC}/A_SalesOrderPartnerAddress(SalesOrder='{sales_order_id}',PartnerFunction='{function}',"
                                 f"AddressRepresentationCode='')", "type": "API_SALES_ORDER_SRV.A_SalesOrderPartnerAddressType"},
            "SalesOrder": sales_order_id, "PartnerFunction": function, "AddressRepresentationCode": "",
            "CorrespondenceLanguage": "DE", "AddresseeFullName": "", **_address_fields(n)}


def business_partner(n: int) -> dict[str, Any]:
    """A_BusinessPartner of sample customer *n* with to_BusinessPartnerAddress and to_BusinessPartnerTax."""
    cust_no, name, _email, (_street, _city, _zip, _region, country), _currency = CUSTOMERS[n % len(CUSTOMERS)]
    vat = customer_vat(cust_no)
    bp = f"{BP_SVC}/A_BusinessPartner('{cust_no}')"
    address = {"__metadata": {"id": f"{BP_SVC}/A_BusinessPartnerAddress(BusinessPartner='{cust_no}',AddressID='{28_000 + n % 9}')",
                              "type": "API_BUSINESS_PARTNER.A_BusinessPartnerAddressType"},
               "BusinessPartner": cust_no, "AddressID": str(28_000 + n % 9), "ValidityStartDate": "/Date(1514764800000)/",
               "ValidityEndDate": "/Date(253402214400000)/", "FullName": name, **_address_fields(n)}
    for k in ("OrganizationName1", "OrganizationName2", "OrganizationName3", "OrganizationName4", "EmailAddress"):
        address.pop(k)
    taxes = [{"__metadata": {"id": f"{BP_SVC}/A_BusinessPartnerTaxNumber(BusinessPartner='{cust_no}',"
                                   f"BPTaxType='{_VAT_TAX_TYPE[country]}')", "type": "API_BUSINESS_PARTNER.A_BusinessPartnerTaxNumberType"},
              "BusinessPartner": cust_no, "BPTaxType": _VAT_TAX_TYPE[country], "BPTaxNumber": vat, "BPTaxLongNumber": ""}] \
        if vat else []
    return {"d": {
        "__metadata": {"id": bp, "type": "API_BUSINESS_PARTNER.A_BusinessPartnerType"},
        "BusinessPartner": cust_no, "Customer": cust_no, "BusinessPartnerCategory": "2", "BusinessPartnerGrouping": "BP02",
        "BusinessPartnerFullName": name, "BusinessPartnerName": name, "OrganizationBPName1": name[:40],
        "OrganizationBPName2": name[40:80], "Language": "DE", "BusinessPartnerIsBlocked": False,
        "to_BusinessPartnerAddress": {"results": [address]}, "to_BusinessPartnerTax": {"results": taxes},
    }}


def sales_order(n: int, sales_order_id: str, when: datetime, delivery: str = "C") -> dict[str, Any]:
    cust_no, _name, _email, _addr, currency = CUSTOMERS[n % len(CUSTOMERS)]
    svc = SVC
    items, total = [], Decimal("0")
    for k in range(1 + n % 4):
        sku, title, price = CATALOGUE[(n * 3 + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n + 2 * k) % 3
        net = (Decimal(price) * qty).quantize(Decimal("1") if currency == "JPY" else Decimal("0.01"))
        total += net
        item = f"{(k + 1) * 10:06d}"
        items.append({"__metadata": {"id": f"{svc}/A_SalesOrderItem(SalesOrder='{sales_order_id}',SalesOrderItem='{item}')",
                                     "type": "API_SALES_ORDER_SRV.A_SalesOrderItemType"},
                      "SalesOrder": sales_order_id, "SalesOrderItem": item, "SalesOrderItemCategory": "TAN",
                      "SalesOrderItemText": title, "Material": sku, "RequestedQuantity": f"{qty}.000",
                      "RequestedQuantityUnit": "PC", "NetAmount": f"{net}", "TransactionCurrency": currency,
                      "MaterialGroup": "KS01", "SDProcessStatus": delivery, "DeliveryStatus": delivery})
    ms = int(when.timestamp() * 1000)
    return {"d": {
        "__metadata": {"id": f"{svc}/A_SalesOrder('{sales_order_id}')", "type": "API_SALES_ORDER_SRV.A_SalesOrderType"},
        "SalesOrder": sales_order_id, "SalesOrderType": "OR", "SalesOrganization": "1010", "DistributionChannel": "10",
        "OrganizationDivision": "00", "SoldToParty": cust_no, "CreationDate": f"/Date({ms - 86_400_000})/",
        "LastChangeDateTime": f"/Date({ms}+0000)/", "PurchaseOrderByCustomer": f"PO-{7700 + n}",
        "TotalNetAmount": f"{total}", "TransactionCurrency": currency, "OverallSDProcessStatus": delivery,
        "OverallTotalDeliveryStatus": delivery, "OverallDeliveryStatus": delivery, "OverallSDDocumentRejectionSts": "A",
        "CustomerPaymentTerms": "0004", "IncotermsClassification": "EXW",
        "to_Item": {"results": items},
        "to_Partner": {"results": [
            {"__metadata": {"id": f"{svc}/A_SalesOrderHeaderPartner(SalesOrder='{sales_order_id}',PartnerFunction='{fn}')",
                            "type": "API_SALES_ORDER_SRV.A_SalesOrderHeaderPartnerType"},
             "SalesOrder": sales_order_id, "PartnerFunction": fn, "PartnerFunctionInternalCode": fn, "Customer": cust_no,
             "Supplier": "", "Personnel": "", "ContactPerson": "", "ReferenceBusinessPartner": cust_no,
             "AddressID": str(28_000 + n % len(CUSTOMERS)), "VATRegistration": "",
             "to_Address": {"results": [partner_address(n, sales_order_id, fn)]}}
            for fn in ("AG", "RE", "RG", "WE")
        ]},
    }}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The Changed event after goods issue (order completely delivered); sometimes redelivered by the broker."""
    so_id = str(9_000_000 + n)
    when = _BASE_TIME + timedelta(minutes=13 * (n % 1000))
    cust_no = CUSTOMERS[n % len(CUSTOMERS)][0]
    event = cloudevent(so_id, str(uuid.uuid5(uuid.NAMESPACE_URL, f"sap/{so_id}/delivered")), at or when, cust_no)
    req = binary(event, secret) if n % 2 == 0 else signed(json.dumps(event).encode(), secret, at or when)
    doc = sales_order(n, so_id, when)
    return SampleOrder(platform="sap", order_ref=f"sap:{so_id}", requests=[req],
                       redeliveries=[req] if rng.random() < 0.3 else [],
                       api={api_route(so_id): doc, bp_route(cust_no): business_partner(n)},
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=so_id,
                                         currency=doc["d"]["TransactionCurrency"], line_count=len(doc["d"]["to_Item"]["results"]),
                                         order_key=f"sap:{so_id}"))
