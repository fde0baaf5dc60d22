"""Infor ION ``SyncSalesOrder`` BODs (OAGIS 10 / InforOAGIS 2) for CSI customer orders reaching status Complete."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from xml.sax.saxutils import escape

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "bod", "TENANT"]

TENANT = "KOMPRESSOR_PRD"
_BASE_TIME = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as the ION API connection point posts it, with the shared secret as a bearer token."""
    return SampleRequest(path="/webhooks/infor", body=body, headers={
        "Content-Type": "application/xml; charset=utf-8", "Authorization": f"Bearer {secret}"})


def bod(n: int, status: str, action: str, when: datetime, bod_id: str) -> tuple[bytes, str, str, int]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    co = f"CO{70_000 + n:08d}"
    lines, total = [], Decimal("0")
    count = 1 + (n + 1) % 4
    for k in range(count):
        sku, title, price = CATALOGUE[(n * 5 + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n + k) % 3
        total += Decimal(price) * qty
        lines.append(
            f"<SalesOrderLine><LineNumber>{k + 1}</LineNumber><Item><ItemID><ID>{escape(sku)}</ID></ItemID>"
            f"<Description>{escape(title)}</Description></Item><Quantity unitCode=\"EA\">{qty}.00000000</Quantity>"
            f"<UnitPrice><Amount currencyID=\"{currency}\">{price}</Amount><PerQuantity unitCode=\"EA\">1</PerQuantity></UnitPrice>"
            f"<ExtendedAmount currencyID=\"{currency}\">{Decimal(price) * qty}</ExtendedAmount><Status><Code>{status}</Code></Status>"
            "</SalesOrderLine>")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SyncSalesOrder xmlns="http://schema.infor.com/InforOAGIS/2" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'releaseID="9.2" versionID="2.14.6">'
        f"<ApplicationArea><Sender><LogicalID>lid://infor.syteline.csi_prd</LogicalID><ComponentID>SyteLine</ComponentID>"
        f"<ConfirmationCode>OnError</ConfirmationCode></Sender><CreationDateTime>{stamp}</CreationDateTime>"
        f"<BODID>{escape(bod_id)}</BODID></ApplicationArea>"
        f"<DataArea><Sync><TenantID>{TENANT}</TenantID><AccountingEntityID>KSN</AccountingEntityID><LocationID>MAIN</LocationID>"
        f"<ActionCriteria><ActionExpression actionCode=\"{action}\"/></ActionCriteria></Sync>"
        f"<SalesOrder><SalesOrderHeader><DocumentID><ID accountingEntity=\"KSN\" lid=\"lid://infor.syteline.csi_prd\" "
        f"variationID=\"{n + 3}\">{co}</ID></DocumentID><LastModificationDateTime>{stamp}</LastModificationDateTime>"
        f"<DocumentDateTime>{(when - timedelta(days=3)).strftime('%Y-%m-%dT%H:%M:%SZ')}</DocumentDateTime>"
        f"<Status><Code listID=\"SalesOrderStatus\">{status}</Code><EffectiveDateTime>{stamp}</EffectiveDateTime></Status>"
        f"<CustomerParty><PartyIDs><ID accountingEntity=\"KSN\">{cust_no}</ID></PartyIDs><Name>{escape(name)}</Name>"
        f"<Location><Address><AddressLine sequence=\"1\">{escape(street)}</AddressLine><CityName>{escape(city)}</CityName>"
        f"<CountrySubDivisionCode>{region or ''}</CountrySubDivisionCode><CountryCode>{country}</CountryCode>"
        f"<PostalCode>{zip_code}</PostalCode></Address></Location><Contact><Communication><ChannelCode>EMail</ChannelCode>"
        f"<URI>{email}</URI></Communication></Contact></CustomerParty>"
        f"<CustomerPurchaseOrderReference><DocumentID><ID>PO-{9900 + n}</ID></DocumentID></CustomerPurchaseOrderReference>"
        f"<TotalAmount currencyID=\"{currency}\">{total}</TotalAmount></SalesOrderHeader>"
        f"{''.join(lines)}</SalesOrder></DataArea></SyncSalesOrder>")
    return xml.encode(), co, currency, count


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The BOD with status Complete (issuing), after an Ordered one (ignored); ION may resend a BOD."""
    when = _BASE_TIME + timedelta(minutes=6 * (n % 1000))
    ids = [f"infor-nid:{TENANT}:KSN:MAIN:{uuid.uuid5(uuid.NAMESPACE_URL, f'infor/{n}/{s}')}?SalesOrder&verb=Sync"
           for s in ("complete", "ordered")]
    body, co, currency, count = bod(n, "Complete", "Replace", when, ids[0])
    ordered, *_ = bod(n, "Ordered", "Add", when - timedelta(days=3), ids[1])
    reqs = [signed(body, secret, at or when), signed(ordered, secret, at or when)]
    return SampleOrder(platform="infor", order_ref=f"infor:{co}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=co, currency=currency,
                                         line_count=count, order_key=f"infor:{co}"))
