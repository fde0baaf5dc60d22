"""Salesforce Outbound Messages (SOAP 1.1) for Opportunities reaching Closed Won, and the SOQL answers.

The envelope follows the WSDL Salesforce generates per outbound message
(namespace ``http://soap.sforce.com/2005/09/outbound``, ``sf:`` = ``urn:sobject.enterprise.soap.sforce.com``).
The REST query answer follows ``GET /services/data/vXX.X/query`` (``totalSize``/``done``/``records``,
child relationship as a nested query result).
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "envelope", "ORG_ID", "API_VERSION"]

ORG_ID = "00D5g000004SfEaEAK"
API_VERSION = "v62.0"
#: the org's custom Account field for the VAT id (Salesforce has no standard one)
VAT_FIELD = "VAT_Number__c"
_BASE_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _sfid(prefix: str, n: int, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}{n}".encode()).digest()
    return prefix + "5g0000" + "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:9])  # 18 characters


def envelope(notifications: list[tuple[str, str, str]], org_id: str = ORG_ID, action_id: str = "04k5g000000CaRXAA0") -> bytes:
    """A ``notifications`` SOAP body for (notification id, opportunity id, stage) triples."""
    items = "".join(
        f"<Notification><Id>{nid}</Id><sObject xsi:type=\"sf:Opportunity\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">"
        f"<sf:Id>{oid}</sf:Id><sf:IsWon>{'true' if stage == 'Closed Won' else 'false'}</sf:IsWon>"
        f"<sf:StageName>{stage}</sf:StageName></sObject></Notification>"
        for nid, oid, stage in notifications)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>{action_id}</ActionId>"
        f"<SessionId xsi:nil=\"true\"/><EnterpriseUrl>https://kompressor-nord.my.salesforce.com/services/Soap/c/62.0/{org_id[:15]}</EnterpriseUrl>"
        f"<PartnerUrl>https://kompressor-nord.my.salesforce.com/services/Soap/u/62.0/{org_id[:15]}</PartnerUrl>"
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* posted to the listener URL with the secret token, as Salesforce calls it."""
    return SampleRequest(path="/webhooks/salesforce", body=body, query=urlencode({"token": secret}),
                         headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                                  "User-Agent": "Salesforce - OutboundMessaging"})


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_SALESFORCE_TENANT": ORG_ID, "INVOICING_SALESFORCE_CLIENT_ID": "3MVG9sample.consumer.key",
            "INVOICING_SALESFORCE_CLIENT_SECRET": "sample-consumer-secret", "INVOICING_SALESFORCE_VAT_FIELD": VAT_FIELD}


def soql(opp_id: str) -> str:
    from sources.salesforce import opportunity_soql

    return opportunity_soql(opp_id, VAT_FIELD)


def query_route(opp_id: str) -> str:
    return f"GET /services/data/{API_VERSION}/query?" + urlencode({"q": soql(opp_id)})


def opportunity(n: int, rng: random.Random, opp_id: str, when: datetime) -> dict[str, Any]:
    cust_no, name, _email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    items, total = [], Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + 2 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 4)
        discount = Decimal(rng.choice(["0", "0", "5"]))
        line_total = (Decimal(price) * qty * (100 - discount) / 100).quantize(Decimal("0.01"))
        total += line_total
        items.append({"attributes": {"type": "OpportunityLineItem", "url": f"/services/data/{API_VERSION}/sobjects/OpportunityLineItem/{_sfid('00k', n * 10 + k, 'li')}"},
                      "Id": _sfid("00k", n * 10 + k, "li"), "Quantity": Decimal(f"{qty}.0"), "UnitPrice": Decimal(price),
                      "TotalPrice": line_total, "Discount": discount if discount else None, "Description": None,
                      "Product2": {"attributes": {"type": "Product2"}, "Name": title, "ProductCode": sku}})
    return {
        "attributes": {"type": "Opportunity", "url": f"/services/data/{API_VERSION}/sobjects/Opportunity/{opp_id}"},
        "Id": opp_id, "Name": f"{name} - compressed air upgrade {2026}-{n:03d}", "StageName": "Closed Won",
        "CloseDate": when.date().isoformat(), "Amount": total, "CurrencyIsoCode": currency,
        "LastModifiedDate": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Account": {"attributes": {"type": "Account"}, "Id": _sfid("001", n % len(CUSTOMERS), "acct"), "Name": name,
                    "AccountNumber": cust_no, "BillingStreet": street, "BillingCity": city,
                    "BillingPostalCode": zip_code, "BillingStateCode": region, "BillingCountryCode": country,
                    VAT_FIELD: customer_vat(cust_no)},
        "OpportunityLineItems": {"totalSize": len(items), "done": True, "records": items},
    }


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """A stage change to Negotiation/Review (ignored), then Closed Won; the won message is sometimes redelivered."""
    opp_id = _sfid("006", n, "opp")
    when = _BASE_TIME + timedelta(minutes=11 * (n % 1000))
    won = signed(envelope([(_sfid("04l", n, "won"), opp_id, "Closed Won")]), secret, at or when)
    progress = signed(envelope([(_sfid("04l", n, "neg"), opp_id, "Negotiation/Review")]), secret, at or when)
    doc = opportunity(n, rng, opp_id, when)
    api = {
        "POST /services/oauth2/token": {"access_token": "00D5g000004SfEa!AQ4AQ.sample", "instance_url": "https://kompressor-nord.my.salesforce.com",
                                        "token_type": "Bearer", "issued_at": "1795420800000", "signature": "sample"},
        query_route(opp_id): dumps_exact({"totalSize": 1, "done": True, "records": [doc]}).encode(),
    }
    currency = str(doc["CurrencyIsoCode"])
    return SampleOrder(platform="salesforce", order_ref=f"salesforce:{opp_id}", requests=[won, progress],
                       redeliveries=[won] if rng.random() < 0.3 else [], api=api,
                       expected=Expected(trigger="STAGE_REACHED", external_order_id=opp_id, currency=currency,
                                         line_count=len(doc["OpportunityLineItems"]["records"]),
                                         order_key=f"salesforce:{opp_id}"))
