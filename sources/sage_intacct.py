"""Sage Intacct: a Platform Trigger of type "HTTP post" with webhook delivery (GA 2025 R2).

* Transport: ``POST /webhooks/sage-intacct``; the trigger sits on ``SODOCUMENT`` (Sales Order, action
  Set) with the condition ``STATE = 'Converted'``: the order was fully converted to its Shipper,
  i.e. shipped. The body is the template we define in the trigger (schema ``invoicing.sage-intacct.so/1``)::

    {"schema", "object": "SODOCUMENT", "action": "set", "docId": "Sales Order-SO0042", "docNo",
     "docParId": "Sales Order", "state", "whenModified", "currency", "totalEntered", "poNumber",
     "customer": {"customerId", "name", "email", "taxId", "billTo": {"address1", "address2", "city",
                  "zip", "state", "countryCode"}},
     "lines": [{"lineNo", "itemId", "itemName", "quantity", "unitPrice", "discount", "taxRate"}]}

  Money as decimal strings.
* Authentication: ``Authorization: Bearer <JWT>`` verified with PyJWT — HS256 with the shared secret
  ``INVOICING_SAGE_INTACCT_SECRET`` by default, or RS256 with ``JWT_PUBLIC_KEY`` (PEM) when configured
  (which Sage uses is [U]); ``exp`` required, ``iss`` = ``JWT_ISSUER`` and ``aud`` = ``JWT_AUDIENCE``
  when set. ``X-Trusted-Context`` (base64 JSON) must be present and, when ``CLIENT_ID`` is set, name
  that client. The JWT does not cover the body: a token-only platform (listed as such in the source contract test).
* Dedupe: the per-request idempotency key (``Idempotency-Key``, or ``X-Idempotency-Key``; the header
  name is [U]), identical across Sage's retries, bound to a digest of the body (the JWT does not cover
  it, so a captured key with a swapped body is another event); ``sage-intacct:so:<docId>:converted``
  across events.
* Trigger: ``state`` ``Converted`` → SHIPMENT_CONFIRMED; other states ignored. Full payload, no fetch.
"""
from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Mapping

import jwt
from pydantic import Field, SecretStr

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.settings import PlatformSettings
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time, schema_document
from sources.support.signing import body_digest, constant_time_equal

__all__ = ["SageIntacct", "SageIntacctSettings", "SCHEMA", "STATE_TRIGGERS"]

SCHEMA = "invoicing.sage-intacct.so/1"
STATE_TRIGGERS = {"Converted": "SHIPMENT_CONFIRMED"}
_KEY_HEADERS = ("idempotency-key", "x-idempotency-key")


class SageIntacctSettings(PlatformSettings):
    jwt_issuer: str | None = Field(None, description="Required iss claim.")
    jwt_audience: str | None = Field(None, description="Required aud claim.")
    jwt_public_key: SecretStr | None = Field(None, description="PEM public key: verify RS256 instead of HS256.")


class SageIntacct(Source):
    platform = "sage-intacct"
    settings_class = SageIntacctSettings
    keep_headers: ClassVar[tuple[str, ...]] = _KEY_HEADERS
    settings: SageIntacctSettings

    def verify(self, request: InboundRequest) -> None:
        scheme, _, token = request.header("authorization").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise SignatureError("sage-intacct: missing bearer JWT")
        pem = self.settings.jwt_public_key
        key, algs = (pem.get_secret_value(), ["RS256"]) if pem else (self.secret(), ["HS256"])
        s = self.settings
        try:
            jwt.decode(token.strip(), key, algorithms=algs, issuer=s.jwt_issuer, audience=s.jwt_audience,
                       options={"require": ["exp"], "verify_aud": s.jwt_audience is not None},
                       leeway=30)
        except jwt.PyJWTError as exc:
            raise SignatureError(f"sage-intacct: JWT rejected ({type(exc).__name__})") from None
        context = request.header("x-trusted-context")
        try:
            trusted = json.loads(base64.b64decode(context + "=" * (-len(context) % 4)))
        except (ValueError, UnicodeDecodeError):
            raise SignatureError("sage-intacct: missing or unreadable X-Trusted-Context") from None
        if not isinstance(trusted, dict):
            raise SignatureError("sage-intacct: X-Trusted-Context is not an object")
        if s.client_id and not constant_time_equal(str(trusted.get("clientId") or ""), s.client_id):
            raise SignatureError("sage-intacct: X-Trusted-Context names another client")

    @staticmethod
    def _doc(body: bytes) -> dict[str, Any]:
        return schema_document(body, SCHEMA, id_field="docId", lines=list)

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = self._doc(request.body)
        key = next((request.header(h) for h in _KEY_HEADERS if request.header(h)), "")
        if not key:
            raise PayloadError("sage-intacct: request without an idempotency key")
        if doc.get("state") not in STATE_TRIGGERS:
            raise IgnoredEvent(f"sales order state {doc.get('state')!r} does not trigger invoicing")
        # the JWT does not cover the body: the event id binds Sage's idempotency key to this body, so a captured
        # key sent again with another body is another event, and cannot make the genuine one look like a duplicate
        return EventInfo(event_type=f"SODOCUMENT.{doc.get('action') or 'set'}.{doc['state']}",
                         event_id=f"{key}:{body_digest(request.body)[:16]}")

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = self._doc(raw["body"])
        trigger = STATE_TRIGGERS.get(str(doc.get("state")))
        if trigger is None:
            return []
        try:
            cust = doc.get("customer") or {}
            bill = cust.get("billTo") or {}
            lines = [order_line(li.get("itemName") or li.get("itemId") or "", li["quantity"], li["unitPrice"],
                                sku=li.get("itemId"), discount=li.get("discount") or 0, tax_rate=li.get("taxRate"))
                     for li in doc["lines"] if li.get("quantity") not in (None, "", "0")]
            return [order_event(
                raw, event_id=raw["event_id"], trigger=trigger, external_order_id=str(doc["docId"]),
                order_number=doc.get("docNo"), occurred_at=parse_time(doc.get("whenModified"), raw["received_at"]),
                customer_ref=f"sage-intacct:{cust['customerId']}" if cust.get("customerId") else None,
                customer=party(cust.get("name") or "", email=cust.get("email"), vat_id=cust.get("taxId"),
                               line1=bill.get("address1") or "", line2=bill.get("address2"), city=bill.get("city") or "",
                               postal_code=bill.get("zip") or "", region=bill.get("state"), country=bill.get("countryCode") or ""),
                currency=doc["currency"], lines=lines, announced_total=doc.get("totalEntered"),
                purchase_order=doc.get("poNumber"), dedup_keys=[f"sage-intacct:so:{doc['docId']}:converted"],
                attributes={"doc_par_id": str(doc.get("docParId") or "")})]
        except (KeyError, TypeError, AttributeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Sage Intacct sales order")) from None
