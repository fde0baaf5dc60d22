"""PayPal Invoicing v2 stand-in: draft create, send, delete, search, and ``/v1/oauth2/token``.

Request bodies are validated with jsonschema against the trimmed copy of
paypal/paypal-rest-api-specifications ``openapi/invoicing_v2.json`` kept in
``tests/fakes/specs/paypal_invoicing_v2.trimmed.json`` (`VALIDATORS`: ``invoice`` for a create,
``search_data`` for a search, ``notification`` for a send; read-only and unknown fields rejected).
Semantics as documented: a create makes a DRAFT, ``/send`` moves it to SENT
(resending has no effect), ``invoice_number`` is unique per merchant
(422 ``DUPLICATE_INVOICE_NUMBER``). Totals as PayPal computes them (the spec's ``invoice_draft``
example): per item, quantity × unit amount less discount, tax on that, each rounded half-up to the
currency's decimals. ``booked`` holds every sent invoice. Errors: ``{name, message, debug_id,
details[{field, issue, description}], links}``.
"""
from __future__ import annotations

import itertools
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from domain.money import amount_places
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer

__all__ = ["PayPalFake", "make_fake", "CLIENT_ID", "VALIDATORS", "validator_for"]

CLIENT_ID = "paypal-client-id"
SPEC = json.loads((Path(__file__).resolve().parent.parent / "specs" / "paypal_invoicing_v2.trimmed.json").read_text())


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]})


_INVOICE, _SEARCH, _SEND = _validator("invoice"), _validator("search_data"), _validator("notification")
#: (method, path pattern) → the spec schema its JSON body must match
VALIDATORS = [("POST", r"/v2/invoicing/invoices", _INVOICE), ("POST", r"/v2/invoicing/search-invoices", _SEARCH),
              ("POST", r"/v2/invoicing/invoices/INV2-[A-Z0-9-]+/send", _SEND)]


def validator_for(method: str, path: str) -> jsonschema.Draft202012Validator | None:
    return next((v for m, pattern, v in VALIDATORS if m == method and re.fullmatch(pattern, path)), None)


def error(status: int, name: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": "f1a2b3c4d5e6f",
                            "links": [{"href": f"https://developer.paypal.com/docs/api/invoicing/v2/#error-{name}",
                                       "rel": "information_link", "method": "GET"}]}
    if details:
        body["details"] = details
    return Reply(status, body)


class PayPalFake(FakeTarget):
    target = "paypal"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials", CLIENT_ID, SECRET, basic=True, ttl=32400)
        self.sends: list[str] = []
        self._n = itertools.count(1)

    def env(self) -> dict[str, str]:
        return {"INVOICING_PAYPAL_BASE_URL": self.url, "INVOICING_PAYPAL_CLIENT_ID": CLIENT_ID,
                "INVOICING_PAYPAL_CLIENT_SECRET": SECRET}

    def error_body(self, status: int) -> Any:
        names = {400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
                 401: ("AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication credentials or a missing Authorization header."),
                 403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
                 422: ("UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically incorrect, or failed business validation."),
                 429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
                 503: ("SERVICE_UNAVAILABLE", "Service Unavailable.")}
        name, message = names.get(status, ("INTERNAL_SERVER_ERROR", "An internal server error occurred."))
        return error(status, name, message).body

    def handle(self, req: Req) -> Reply:
        if req.path == "/v1/oauth2/token" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, {"error": "invalid_token", "error_description": "Access Token not found in cache"})
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError:
            return error(400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.",
                         [{"issue": "MALFORMED_REQUEST_JSON", "description": "The request JSON is not well formed."}])
        if req.method == "POST" and req.path == "/v2/invoicing/invoices":
            return self._invalid(_INVOICE, body) or self._create(body, req)
        if req.method == "POST" and req.path == "/v2/invoicing/search-invoices":
            if problem := self._invalid(_SEARCH, body):
                return problem
            items = [d for d in self.created.values() if all(d["detail"].get(k) == body[k] for k in ("invoice_number", "memo") if k in body)]
            return Reply(200, {"total_items": len(items), "total_pages": 1, "items": items})
        m = re.fullmatch(r"/v2/invoicing/invoices/(INV2-[A-Z0-9-]+)(/send)?", req.path)
        if not m or m.group(1) not in self.created:
            return error(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.",
                         [{"issue": "INVALID_RESOURCE_ID", "description": "Requested resource ID was not found."}])
        doc = self.created[m.group(1)]
        if req.method == "DELETE" and not m.group(2):
            if doc["status"] != "DRAFT":
                return error(422, "UNPROCESSABLE_ENTITY", "The requested action could not be performed.",
                             [{"issue": "CANNOT_DELETE_INVOICE", "description": "Only a draft invoice can be deleted."}])
            del self.created[m.group(1)]
            return Reply(204, b"")
        if req.method == "POST" and m.group(2):
            if problem := self._invalid(_SEND, body):
                return problem
            if doc["status"] == "DRAFT":
                doc["status"] = "SENT"
                self.sends.append(doc["id"])
                breakdown = doc["amount"]["breakdown"]
                self.booked[doc["id"]] = Booked("invoice", Decimal(doc["amount"]["value"]), Decimal(breakdown["tax_total"]["value"]))
            return Reply(200, {"href": doc["detail"]["metadata"]["recipient_view_url"], "rel": "payer-view", "method": "GET"})
        return error(405, "METHOD_NOT_SUPPORTED", "The server does not implement the requested HTTP method.")

    def _invalid(self, validator: jsonschema.Draft202012Validator, body: Any) -> Reply | None:
        errs = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if not errs:
            return None
        details = [{"field": "/" + "/".join(str(p) for p in e.absolute_path), "location": "body",
                    "issue": "INVALID_PARAMETER_SYNTAX" if e.validator in ("pattern", "type") else
                    "MISSING_REQUIRED_PARAMETER" if e.validator == "required" else "INVALID_PARAMETER_VALUE",
                    "description": e.message} for e in errs[:10]]
        return error(400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.", details)

    def _create(self, body: dict[str, Any], req: Req) -> Reply:
        number = body["detail"].get("invoice_number")
        if number and any(d["detail"].get("invoice_number") == number for d in self.created.values()):
            return error(422, "UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically "
                         "incorrect, or failed business validation.",
                         [{"field": "/detail/invoice_number", "value": number, "location": "body",
                           "issue": "DUPLICATE_INVOICE_NUMBER", "description": "Invoice number is a duplicate."}])
        cur = body["detail"]["currency_code"]
        cent = amount_places(cur)
        item_total = tax_total = Decimal(0)
        for it in body.get("items") or []:
            line = (Decimal(it["quantity"]) * Decimal(it["unit_amount"]["value"])
                    - Decimal(it.get("discount", {}).get("amount", {}).get("value", "0"))).quantize(cent, ROUND_HALF_UP)
            item_total += line
            tax_total += (line * Decimal(it.get("tax", {}).get("percent", "0")) / 100).quantize(cent, ROUND_HALF_UP)
        n = next(self._n)
        iid = f"INV2-FAKE-{n:04d}-AAAA-BBBB"
        doc = dict(body, id=iid, status="DRAFT",
                   amount={"currency_code": cur, "value": f"{item_total + tax_total:f}",
                           "breakdown": {"item_total": {"currency_code": cur, "value": f"{item_total:f}"},
                                         "tax_total": {"currency_code": cur, "value": f"{tax_total:f}"}}},
                   links=[{"href": f"{self.url}/v2/invoicing/invoices/{iid}", "rel": "self", "method": "GET"}])
        doc["detail"] = dict(body["detail"], metadata={"recipient_view_url": f"https://www.paypal.com/invoice/p/#{iid}"})
        self.created[iid] = doc
        if "return=representation" in req.headers.get("prefer", ""):
            return Reply(201, doc)
        return Reply(201, doc["links"][0])


def make_fake() -> PayPalFake:
    return PayPalFake()
