"""Xero Accounting API stand-in: ``PUT/GET /api.xro/2.0/Invoices`` and the identity token endpoint.

The body is checked against the official SDK's models (xero-python, generated
from XeroAPI/Xero-OpenAPI ``xero_accounting.yaml``): no key that the models do not
know, every value deserialisable (enums such as ``Type``, ``Status``,
``LineAmountTypes``, ``CurrencyCode``), amounts as JSON numbers. Then Xero's own
rules: unique ``InvoiceNumber`` for ACCREC, line amount = quantity × unit amount −
discount, an account code on AUTHORISED lines. Errors use Xero's bodies:
``ValidationException`` with ``Elements[].ValidationErrors[].Message`` (400) and
the problem-details shape for 401/403/429/5xx. ``Idempotency-Key`` replays the first response.
"""
from __future__ import annotations

import importlib
import json
import re
import uuid
from decimal import Decimal
from typing import Any

from xero_python.api_client import ModelFinder
from xero_python.api_client.deserializer import deserialize

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, REFRESH, TokenIssuer

__all__ = ["XeroFake", "make_fake"]

_MODELS = importlib.import_module("xero_python.accounting.models")
_FINDER = ModelFinder(_MODELS)
TENANT = "6c1e5a9b-0000-4000-8000-00000000a1b2"
CLIENT_ID, CLIENT_SECRET = "xero-client", SECRET


def _unknown_keys(model: str, data: Any, path: str = "") -> list[str]:
    """Keys in *data* that the xero-python model *model* does not declare (recursing into known sub-models)."""
    cls = getattr(_MODELS, model)
    known = {v: cls.openapi_types[k] for k, v in cls.attribute_map.items()}
    out = []
    for key, value in data.items():
        if key not in known:
            out.append(f"{path}{key}")
            continue
        kind = known[key]
        sub = kind[5:-1] if kind.startswith("list[") else kind
        if hasattr(_MODELS, sub) and isinstance(getattr(_MODELS, sub), type) and getattr(getattr(_MODELS, sub), "attribute_map", None):
            for i, item in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(item, dict):
                    out += _unknown_keys(sub, item, f"{path}{key}[{i}].")
    return out


class XeroFake(FakeTarget):
    target = "xero"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, CLIENT_SECRET, REFRESH)
        self.replies: dict[str, Reply] = {}

    def env(self) -> dict[str, str]:
        p = "INVOICING_XERO_"
        return {p + "BASE_URL": f"{self.url}/api.xro/2.0", p + "TOKEN_URL": f"{self.url}/connect/token",
                p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET, p + "REFRESH_TOKEN": REFRESH,
                p + "TENANT": TENANT}

    def error_body(self, status: int) -> Any:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
                  500: "An error occurred", 503: "Service Unavailable"}
        if status == 400 or status == 422:
            return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                    "Elements": [{"ValidationErrors": [{"Message": "Injected validation failure"}]}]}
        return {"Type": None, "Title": titles.get(status, "Error"), "Status": status,
                "Detail": "AuthenticationUnsuccessful" if status in (401, 403) else "Injected failure",
                "Instance": str(uuid.uuid4()), "Extensions": {}}

    def _validation(self, doc: dict[str, Any], messages: list[str]) -> Reply:
        return Reply(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                           "Elements": [{**json.loads(json.dumps(doc, default=str)), "ValidationErrors": [{"Message": m} for m in messages]}]})

    def handle(self, req: Req) -> Reply:
        if req.path == "/connect/token" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, self.error_body(401), {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if req.headers.get("xero-tenant-id") != TENANT:
            return Reply(403, {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"})
        if req.path != "/api.xro/2.0/Invoices":
            return Reply(404, self.error_body(404))
        if req.method == "GET":
            wanted = set(filter(None, req.query.get("InvoiceNumbers", "").split(",")))
            found = [d for d in self.created.values() if not wanted or d["InvoiceNumber"] in wanted]
            return Reply(200, {"Id": str(uuid.uuid4()), "Status": "OK", "Invoices": found})
        if req.method != "PUT":
            return Reply(405, self.error_body(405))
        key = req.headers.get("idempotency-key")
        if key and key in self.replies:
            return self.replies[key]
        reply = self._create(req)
        if key and reply.status < 500:
            self.replies[key] = reply
        return reply

    def _create(self, req: Req) -> Reply:
        try:
            body = json.loads(req.body, parse_float=Decimal)
        except ValueError:
            return Reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": "Invalid JSON"})
        docs = body.get("Invoices") if isinstance(body, dict) else None
        if not isinstance(docs, list) or len(docs) != 1:
            return Reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": "Expected {Invoices: [one]}"})
        doc = docs[0]
        problems = [f"unknown field {k}" for k in _unknown_keys("Invoice", doc)]
        for f in ("Date", "DueDate"):  # Xero takes ISO dates in requests; the SDK models only parse /Date(ms)/
            if f in doc and not re.fullmatch(r"\d{4}-\d{2}-\d{2}|/Date\(\d+([+-]\d{4})?\)/", str(doc[f])):
                problems.append(f"{f} {doc[f]!r} is not a date")
        try:
            deserialize("Invoice", {k: v for k, v in doc.items() if k not in ("Date", "DueDate")}, _FINDER)
        except (ValueError, TypeError) as exc:
            problems.append(str(exc))
        problems += self._rules(doc)
        if problems:
            return self._validation(doc, problems)
        stored = dict(doc, InvoiceID=str(uuid.uuid4()), HasErrors=False,
                      SubTotal=sum((li["LineAmount"] for li in doc["LineItems"]), Decimal(0)),
                      TotalTax=sum((li.get("TaxAmount", Decimal(0)) for li in doc["LineItems"]), Decimal(0)))
        stored["Total"] = stored["SubTotal"] + stored["TotalTax"]
        self.created[stored["InvoiceID"]] = json.loads(json.dumps(stored, default=str))
        return Reply(200, {"Id": str(uuid.uuid4()), "Status": "OK", "Invoices": [self.created[stored["InvoiceID"]]]})

    def _rules(self, doc: dict[str, Any]) -> list[str]:
        out = []
        if doc.get("Type") != "ACCREC":
            out.append("Type must be ACCREC for a sales invoice")
        if not (doc.get("Contact") or {}).get("ContactID") and not (doc.get("Contact") or {}).get("Name"):
            out.append("A Contact must be specified with this type of transaction")
        number = doc.get("InvoiceNumber")
        if any(d["InvoiceNumber"] == number for d in self.created.values()):
            out.append("Invoice # must be unique.")
        if not doc.get("LineItems"):
            out.append("At least one line item is required")
        for li in doc.get("LineItems") or []:
            for f in ("Quantity", "UnitAmount", "LineAmount", "TaxAmount", "DiscountAmount"):
                if f in li and not isinstance(li[f], (Decimal, int)):
                    out.append(f"{f} must be a number, got {li[f]!r}")
            if out:
                continue
            expect = (li["Quantity"] * li["UnitAmount"] - li.get("DiscountAmount", 0)).quantize(Decimal("0.01"))
            if "LineAmount" in li and Decimal(li["LineAmount"]) != expect:
                out.append(f"Line total {li['LineAmount']} does not equal quantity x unit amount ({expect})")
            if doc.get("Status") == "AUTHORISED" and not li.get("AccountCode"):
                out.append("Account code must be specified")
        return out


def make_fake() -> XeroFake:
    return XeroFake()
