"""NetSuite sink: SuiteTalk REST record API.

* Standalone: ``PUT /services/rest/record/v1/invoice/eid:{externalId}`` (upsert by external id).
* Order from NetSuite: ``POST /services/rest/record/v1/salesOrder/{id}/!transform/invoice`` with
  ``externalId`` in the body, so the look-up by external id finds it too.
* Credit note: ``PUT /services/rest/record/v1/creditMemo/eid:{externalId}`` whose ``apply`` sublist
  applies it to the invoice's internal id (``doc``), in the same request: a credit memo at NetSuite is
  applied from the moment it exists.

All answer 204 with ``Location: …/{record}/{internalId}``.

Tax (SuiteTax): each line names its tax code for its (category, rate), from ``ID_MAP``
(``"tax:S:19"``, ``"tax:K:0"``, …; no wildcard, no default: a (category, rate) without its code is a
gap the worker refuses to start on), and ``taxDetailsOverride`` carries our tax per line
(`domain.exact.line_taxes`), so the record's tax and total are ours to the cent.

NetSuite's OpenAPI document is generated per account (``metadata-catalog``); no public copy exists.
Requests are checked in the tests against the documented record fields (NetSuite's SuiteTalk record
classes as shipped in NetSuite's PHP toolkit, with their REST sublist names): the trimmed list is
tests/fakes/specs/netsuite_record_fields.json.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx

from domain.errors import InvoiceRejected, RetriableSinkError
from domain.exact import json_body, line_taxes
from sinks.mapping import MappedSettings, map_id, order_ids, rate_key, reject_document_charges
from sinks.credentials import ClientCredentials, Need, under_base_url
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["NetSuiteSink", "NetSuiteSettings", "external_id_for", "to_netsuite", "to_netsuite_credit_memo"]

_RECORD = "/services/rest/record/v1"
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
#: error codes NetSuite sends with 400 that mean "too many concurrent requests, try later"
_RETRIABLE_CODES = {"SSS_REQUEST_LIMIT_EXCEEDED", "CONCURRENCY_LIMIT_EXCEEDED", "SSS_CONCURRENCY_LIMIT_EXCEEDED"}


class NetSuiteSettings(MappedSettings):
    """``INVOICING_NETSUITE_*``: BASE_URL (``https://<acct>.suitetalk.api.netsuite.com``), CLIENT_ID,
    CLIENT_SECRET, TOKEN_URL (default ``<BASE_URL>/services/rest/auth/oauth2/v1/token``), ID_MAP
    (``customer:…``, ``item:…``/``item:*``, ``currency:EUR``, ``tax:S:19`` → internal ids; a tax code for every
    (category, rate), no ``tax:*``)."""

    external_id_prefix: str = "inv-"


def external_id_for(key: str, prefix: str = "inv-") -> str:
    """Our idempotency key as a NetSuite external id (letters, digits, ``_`` and ``-`` only)."""
    return prefix + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def _tax_code(settings: MappedSettings, category: str, rate: Decimal) -> str:
    key = f"tax:{rate_key(category, rate)}"
    if key not in settings.id_map:
        raise InvoiceRejected(f'netsuite: INVOICING_NETSUITE_ID_MAP has no entry "{key}" (the tax code\'s internal id)')
    return settings.id_map[key]


def _record(document: Mapping[str, Any], settings: MappedSettings, external_id: str) -> dict[str, Any]:
    """The fields an invoice and a credit memo share (SuiteTax: one tax detail per line, amounts exact)."""
    t = "netsuite"
    reject_document_charges(document, t)
    items, details = [], []
    for ln, tax in zip(document["lines"], line_taxes(document)):
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
            "taxCode": {"id": _tax_code(settings, ln["tax_category"], ln["tax_rate"])},
            "taxBasis": ln["net_amount"],
            "taxRate": ln["tax_rate"],
            "taxAmount": tax,
        })
    return {
        "externalId": external_id,
        "tranId": document["number"],
        "entity": {"id": map_id(settings, t, "customer", document["customer_id"])},
        "currency": {"id": map_id(settings, t, "currency", document["currency"])},
        "tranDate": document["issue_date"],
        "memo": f"{document['number']} ({document['invoice_id']})",
        "item": {"items": items},
        "taxDetailsOverride": True,
        "taxDetails": {"items": details},
    }


def to_netsuite(invoice: Mapping[str, Any], settings: MappedSettings, external_id: str) -> dict[str, Any]:
    """The standalone invoice record body."""
    body = _record(invoice, settings, external_id) | {
        "dueDate": invoice["due_date"],
        "otherRefNum": invoice.get("purchase_order") or invoice.get("buyer_reference") or None,
    }
    return {k: v for k, v in body.items() if v is not None}


def to_netsuite_credit_memo(note: Mapping[str, Any], settings: MappedSettings, external_id: str,
                            invoice_id: str, amount: Decimal) -> dict[str, Any]:
    """The credit memo record body, applied for *amount* to the invoice with internal id *invoice_id* (an
    invoice that owes nothing any more leaves the credit unapplied, as customer credit)."""
    body = _record(note, settings, external_id)
    if note.get("preceding_invoice"):
        body["otherRefNum"] = str(note["preceding_invoice"])
    if amount > 0:
        body["apply"] = {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]}
    return body


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
    same record, never adds one), and `find_invoice` reads ``GET …/invoice/eid:{externalId}`` first;
    a credit note likewise with ``PUT …/creditMemo/eid:{externalId}`` (applied to the invoice in the
    same request, for ``min(credit total, invoice amountRemaining)``) and ``GET …/creditMemo/eid:…``.
    Idempotency key: our ``invoice_id`` → ``externalId = "inv-" + invoice_id`` (disallowed characters → ``-``);
    ``tranId`` = our document number.
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

    auth_spec = ClientCredentials(token_url=under_base_url("/services/rest/auth/oauth2/v1/token"), token_url_from="base_url",
                                  scope=lambda s: "rest_webservices", basic_client_auth=True)
    requires = (Need("base_url", "the account's REST domain"),)

    def _eid(self, key: str) -> str:
        return external_id_for(key, getattr(self.settings, "external_id_prefix", "inv-"))

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_NETSUITE_ID_MAP has no entry "tax:{rate_key(c, r)}" (the tax code\'s internal id)'
                for c, r in sorted(taxes) if f"tax:{rate_key(c, r)}" not in self.settings.id_map]

    async def _find(self, record: str, eid: str) -> InvoiceRef | None:
        r = await self.client.get(f"{self.base_url()}{_RECORD}/{record}/eid:{eid}",
                                  params={"fields": "id,tranId,externalId"}, auth=self.auth)
        if r.status_code == 404:
            return None
        raise_for_status(r, what=f"netsuite: look up {record} eid:{eid}", message=_message, retriable=_concurrency_limit)
        doc = r.json()
        return InvoiceRef(str(doc["id"]), url=f"{self.base_url()}{_RECORD}/{record}/{doc['id']}")

    async def _written(self, r: httpx.Response, what: str, record: str, eid: str) -> InvoiceRef:
        """The internal id NetSuite's 204 names in ``Location`` (or, without one, found by external id)."""
        raise_for_status(r, what=what, message=_message, retriable=_concurrency_limit)
        location = r.headers.get("location", "")
        internal_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not internal_id:
            found = await self._find(record, eid)
            if found is None:
                raise RetriableSinkError(f"{what}: accepted without a Location and not found by eid:{eid}")
            return found
        return InvoiceRef(internal_id, url=location)

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find("invoice", self._eid(idempotency_key))

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        eid = self._eid(idempotency_key)
        so = order_ids(invoice, "netsuite")
        if len(so) == 1:
            # the order is a NetSuite sales order: transform it (NetSuite invoices its fulfilled lines)
            body = {"externalId": eid, "tranId": invoice["number"], "tranDate": invoice["issue_date"],
                    "dueDate": invoice["due_date"]}
            r = await self.client.post(f"{self.base_url()}{_RECORD}/salesOrder/{so[0]}/!transform/invoice",
                                       content=json_body(body), headers=_JSON, auth=self.auth)
            return await self._written(r, f"netsuite: transform salesOrder {so[0]} to invoice {invoice['number']}",
                                       "invoice", eid)
        r = await self.client.put(f"{self.base_url()}{_RECORD}/invoice/eid:{eid}", headers=_JSON, auth=self.auth,
                                  content=json_body(to_netsuite(invoice, self.settings, eid)))
        return await self._written(r, f"netsuite: upsert invoice {invoice['number']} (eid:{eid})", "invoice", eid)

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find("creditMemo", self._eid(idempotency_key))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        eid = self._eid(idempotency_key)
        r = await self.client.get(f"{self.base_url()}{_RECORD}/invoice/{original.external_id}",
                                  params={"fields": "id,amountRemaining"}, auth=self.auth)
        raise_for_status(r, what=f"netsuite: read invoice {original.external_id}", message=_message,
                         retriable=_concurrency_limit)
        remaining = Decimal(str(json.loads(r.text, parse_float=Decimal)["amountRemaining"]))
        body = to_netsuite_credit_memo(note, self.settings, eid, original.external_id, min(Decimal(note["total"]), remaining))
        r = await self.client.put(f"{self.base_url()}{_RECORD}/creditMemo/eid:{eid}", content=json_body(body),
                                  headers=_JSON, auth=self.auth)
        return await self._written(r, f"netsuite: upsert credit memo {note['number']} (eid:{eid})", "creditMemo", eid)
