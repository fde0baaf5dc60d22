"""NetSuite sink: SuiteTalk REST record API.

* Standalone: ``PUT /services/rest/record/v1/invoice/eid:{externalId}`` (upsert by external id).
* Order from NetSuite: ``POST /services/rest/record/v1/salesOrder/{id}/!transform/invoice`` with
  ``externalId`` in the body, so the look-up by external id finds it too.

Both answer 204 with ``Location: …/invoice/{internalId}``.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import httpx

from invoicing.errors import RetriableSinkError
from invoicing.exact import json_body, line_taxes
from invoicing.mapping import MappedSettings, map_id, order_ids, rate_key, reject_credit_notes
from sinks.auth import client_credentials_auth
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["NetSuiteSink", "NetSuiteSettings", "external_id_for", "to_netsuite"]

_RECORD = "/services/rest/record/v1"
#: error codes NetSuite sends with 400 that mean "too many concurrent requests, try later"
_RETRIABLE_CODES = {"SSS_REQUEST_LIMIT_EXCEEDED", "CONCURRENCY_LIMIT_EXCEEDED", "SSS_CONCURRENCY_LIMIT_EXCEEDED"}


class NetSuiteSettings(MappedSettings):
    """``INVOICING_NETSUITE_*``: BASE_URL (``https://<acct>.suitetalk.api.netsuite.com``), CLIENT_ID,
    CLIENT_SECRET, TOKEN_URL (default ``<BASE_URL>/services/rest/auth/oauth2/v1/token``), ID_MAP
    (``customer:…``, ``item:…``/``item:*``, ``currency:EUR``, ``tax:S:19`` → internal ids)."""

    external_id_prefix: str = "inv-"


def external_id_for(key: str, prefix: str = "inv-") -> str:
    """Our idempotency key as a NetSuite external id (letters, digits, ``_`` and ``-`` only)."""
    return prefix + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def to_netsuite(invoice: Mapping[str, Any], settings: MappedSettings, external_id: str) -> dict[str, Any]:
    """The standalone invoice record body (SuiteTax: one tax detail per line, amounts exact)."""
    t = "netsuite"
    taxes = line_taxes(invoice)
    items, details = [], []
    for ln, tax in zip(invoice["lines"], taxes):
        ref = f"L{ln['line_id']}"
        items.append({
            "item": {"id": map_id(settings, t, "item", ln.get("sku") or ln["description"])},
            "description": ln["description"],
            "quantity": ln["quantity"],
            "rate": ln["unit_price"],
            "amount": ln["net_amount"],
            "taxDetailsReference": ref,
        })
        details.append({
            "taxDetailsReference": ref,
            "taxCode": {"id": map_id(settings, t, "tax", rate_key(ln["tax_category"], ln["tax_rate"]))},
            "taxBasis": ln["net_amount"],
            "taxRate": ln["tax_rate"],
            "taxAmount": tax,
        })
    body: dict[str, Any] = {
        "externalId": external_id,
        "tranId": invoice["number"],
        "entity": {"id": map_id(settings, t, "customer", invoice["customer_id"])},
        "currency": {"id": map_id(settings, t, "currency", invoice["currency"])},
        "tranDate": invoice["issue_date"],
        "dueDate": invoice["due_date"],
        "otherRefNum": invoice.get("purchase_order") or invoice.get("buyer_reference") or None,
        "memo": f"{invoice['number']} ({invoice['invoice_id']})",
        "item": {"items": items},
        "taxDetailsOverride": True,
        "taxDetails": {"items": details},
    }
    return {k: v for k, v in body.items() if v is not None}


def _message(doc: Any) -> str | None:
    details = doc.get("o:errorDetails") or []
    text = "; ".join(f"{d.get('o:errorCode')}: {d.get('detail')}" for d in details)
    return text or doc.get("title")


def _concurrency_limit(r: httpx.Response, what: str) -> RetriableSinkError | None:
    """NetSuite answers 400 with a concurrency error code when too many requests run at once."""
    if r.status_code != 400:
        return None
    try:
        codes = {d.get("o:errorCode") for d in r.json().get("o:errorDetails", [])}
    except Exception:  # noqa: BLE001
        codes = set()
    if codes & _RETRIABLE_CODES:
        return RetriableSinkError(f"{what}: NetSuite concurrency limit: {sorted(c for c in codes if c)}")
    return None


class NetSuiteSink(Sink):
    """Invoices into NetSuite.

    Delivery guarantee: exactly once at the target. NetSuite's own idempotency is the external id:
    the invoice is written with ``PUT …/invoice/eid:{externalId}`` (an upsert: a repeat updates the
    same record, never adds one), and `find_invoice` reads ``GET …/invoice/eid:{externalId}`` first.
    Idempotency key: our ``invoice_id`` → ``externalId = "inv-" + invoice_id`` (disallowed characters → ``-``);
    ``tranId`` = our invoice number.
    Auth: OAuth 2.0 client credentials (M2M). Production NetSuite wants a certificate-signed JWT
    ``client_assertion``; this sink sends ``client_id``/``client_secret``, which sandboxes and the
    local fake accept (see README). Concurrency limits (429, or 400 ``SSS_REQUEST_LIMIT_EXCEEDED``)
    are retriable. NetSuite publishes a per-account *concurrency* limit, not a rate, so
    ``rate_limit_per_minute`` is unset.
    """

    target = "netsuite"
    settings_class = NetSuiteSettings
    settings: NetSuiteSettings
    rate_limit_per_minute = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        token_url = s.token_url or f"{self.base_url()}/services/rest/auth/oauth2/v1/token"
        self.auth = client_credentials_auth("netsuite", s, self.client, token_url=token_url, scope="rest_webservices",
                                            basic_client_auth=True)

    def _eid(self, key: str) -> str:
        return external_id_for(key, getattr(self.settings, "external_id_prefix", "inv-"))

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        eid = self._eid(idempotency_key)
        r = await self.client.get(f"{self.base_url()}{_RECORD}/invoice/eid:{eid}",
                                  params={"fields": "id,tranId,externalId"}, auth=self.auth)
        if r.status_code == 404:
            return None
        raise_for_status(r, what=f"netsuite: look up invoice eid:{eid}", message=_message, retriable=_concurrency_limit)
        doc = r.json()
        return InvoiceRef(str(doc["id"]), url=f"{self.base_url()}{_RECORD}/invoice/{doc['id']}")

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        eid = self._eid(idempotency_key)
        so = order_ids(invoice, "netsuite")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if len(so) == 1:
            # the order is a NetSuite sales order: transform it (NetSuite invoices its fulfilled lines)
            body = {"externalId": eid, "tranId": invoice["number"], "tranDate": invoice["issue_date"],
                    "dueDate": invoice["due_date"]}
            r = await self.client.post(f"{self.base_url()}{_RECORD}/salesOrder/{so[0]}/!transform/invoice",
                                       content=json_body(body), headers=headers, auth=self.auth)
            what = f"netsuite: transform salesOrder {so[0]} to invoice {invoice['number']}"
        else:
            body = to_netsuite(invoice, self.settings, eid)
            r = await self.client.put(f"{self.base_url()}{_RECORD}/invoice/eid:{eid}", content=json_body(body),
                                      headers=headers, auth=self.auth)
            what = f"netsuite: upsert invoice {invoice['number']} (eid:{eid})"
        raise_for_status(r, what=what, message=_message, retriable=_concurrency_limit)
        location = r.headers.get("location", "")
        internal_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not internal_id:
            found = await self.find_invoice(invoice, idempotency_key)
            if found is None:
                raise RetriableSinkError(f"{what}: accepted without a Location and not found by eid:{eid}")
            return found
        return InvoiceRef(internal_id, url=location)

