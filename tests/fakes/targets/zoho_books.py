"""Zoho Books v3 stand-in: invoices and credit notes by organization, own numbers, credits applied to invoices,
``{code, message}`` envelopes, token refresh.

Every request body is checked by `validate` against Zoho's published OpenAPI schemas
(tests/fakes/specs/zoho_books_v3.trimmed.json): JSON Schema (draft 4, the OpenAPI 3.0 dialect) with
no property the schema does not list (``additionalProperties: false`` added to every object),
required properties present, declared types. Then Zoho's rules and arithmetic: tax per ``tax_id`` on
the sum of the lines that carry it, rounded half-up (zoho.com/books/kb/taxes/tax-override.html),
unique numbers when ``ignore_auto_number_generation=true``, credit applied only to a sent invoice of
the same customer and never beyond the invoice's balance or the credit note's. Every answer carries
``code`` (0 = success) and ``message``; errors keep the envelope.
"""
from __future__ import annotations

import copy
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer, dec_json, out

__all__ = ["FakeZohoBooks", "make_fake", "validate", "ORG", "CUSTOMER", "TAXES", "ID_MAP"]

ORG = "60012345678"
CUSTOMER = "982000000012345"
SPEC = Path(__file__).resolve().parent.parent / "specs" / "zoho_books_v3.trimmed.json"
#: the organisation's taxes: tax_id → rate %
TAXES = {"982000000567001": Decimal("19"), "982000000567002": Decimal("7"), "982000000567003": Decimal("4"),
         "982000000567004": Decimal("6.25"), "982000000567005": Decimal("6.5"), "982000000567006": Decimal("7.25"),
         "982000000567010": Decimal(0), "982000000567011": Decimal(0), "982000000567012": Decimal(0),
         "982000000567013": Decimal(0), "982000000567014": Decimal(0)}
_TAX_MAP = {"tax:S:19": "982000000567001", "tax:S:7": "982000000567002", "tax:S:4": "982000000567003",
            "tax:S:6.25": "982000000567004", "tax:S:6.5": "982000000567005", "tax:S:7.25": "982000000567006",
            "tax:K:0": "982000000567010", "tax:AE:0": "982000000567011", "tax:G:0": "982000000567012",
            "tax:E:0": "982000000567013", "tax:O:0": "982000000567014"}
ID_MAP = json.dumps({"customer:*": CUSTOMER, **_TAX_MAP})
_CODES = {400: 2, 401: 57, 403: 57, 404: 5, 405: 37, 422: 2, 429: 44, 500: 500, 503: 503}


def _closed(schema: Any) -> Any:
    """*schema* with ``additionalProperties: false`` on every object that lists its properties."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items() if k != "x-not-read"}
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.Draft4Validator:
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    schema = copy.deepcopy(schemas[name])
    if name == "create-a-credit-note-request":  # the spec gap the trimmed file names: lines may carry rate etc.
        schema["properties"]["line_items"]["items"]["properties"] = (
            schemas["line_items"]["items"]["properties"] | schema["properties"]["line_items"]["items"]["properties"])
    return jsonschema.Draft4Validator(_closed(schema))


def validate(schema: str, body: Any) -> list[str]:
    """What Zoho's schema *schema* refuses in the JSON *body* (parsed with floats, as JSON Schema sees it)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in sorted(_validator(schema).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))]


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class FakeZohoBooks(FakeTarget):
    target = "zoho-books"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token")
        self.invoices: dict[str, dict[str, Any]] = {}
        self.creditnotes: dict[str, dict[str, Any]] = {}
        self.next_id = 982000000900000

    def env(self) -> dict[str, str]:
        p = "INVOICING_ZOHO_BOOKS_"
        return {p + "BASE_URL": self.url, p + "TOKEN_URL": self.url + "/oauth/v2/token", p + "CLIENT_ID": "cid",
                p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH, p + "TENANT": ORG, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return {"code": _CODES.get(status, 1), "message": f"Injected HTTP {status}."}

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/oauth/v2/token":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req, "Zoho-oauthtoken"):
            return Reply(401, {"code": 57, "message": "You are not authorized to perform this operation"})
        if req.query.get("organization_id") != ORG:
            return Reply(400, {"code": 6041, "message": "This user is not associated with the CompanyID/CompanyName:."})
        path, route, ident = req.path.removeprefix("/books/v3"), (req.method, None), ""
        for pattern, name in ((r"/invoices", "invoices"), (r"/invoices/(\d+)", "invoice"), (r"/invoices/(\d+)/status/sent", "sent"),
                              (r"/creditnotes", "creditnotes"), (r"/creditnotes/(\d+)/invoices", "credited")):
            m = re.fullmatch(pattern, path)
            if m:
                route = (req.method, name)
                ident = m.group(1) if m.groups() else ""
                break
        if route == ("GET", "invoices"):
            number = req.query.get("invoice_number")
            found = [self._summary(i) for i in self.invoices.values() if number is None or i["invoice_number"] == number]
            return Reply(200, {"code": 0, "message": "success", "invoices": found,
                               "page_context": {"page": 1, "per_page": 200, "has_more_page": False}})
        if route == ("GET", "invoice") and ident in self.invoices:
            return Reply(200, {"code": 0, "message": "success", "invoice": out(self.invoices[ident])})
        if route == ("POST", "sent") and ident in self.invoices:
            if self.invoices[ident]["status"] == "draft":
                self.invoices[ident]["status"] = "sent"
            return Reply(200, {"code": 0, "message": "Invoice status has been changed to Sent."})
        if route == ("GET", "creditnotes"):
            number = req.query.get("creditnote_number")
            found = [out({k: c[k] for k in ("creditnote_id", "creditnote_number", "status", "date", "total", "balance")})
                     for c in self.creditnotes.values() if number is None or c["creditnote_number"] == number]
            return Reply(200, {"code": 0, "message": "success", "creditnotes": found})
        if route == ("GET", "credited") and ident in self.creditnotes:
            return Reply(200, {"code": 0, "message": "success", "invoices_credited": out(self.creditnotes[ident]["credited"])})
        if route in (("POST", "invoices"), ("POST", "creditnotes")):
            return self._create(req, route[1] == "creditnotes")
        if route == ("POST", "credited") and ident in self.creditnotes:
            return self._apply(self.creditnotes[ident], req)
        return Reply(404, {"code": 5, "message": "Invalid URL Passed"})

    @staticmethod
    def _summary(inv: dict[str, Any]) -> dict[str, Any]:
        return {k: out(inv[k]) for k in ("invoice_id", "invoice_number", "customer_id", "status", "date", "total", "balance")}

    def _create(self, req: Req, credit: bool) -> Reply:
        try:
            body = dec_json(req)
            problems = validate("create-a-credit-note-request" if credit else "create-an-invoice-request", json.loads(req.body))
        except ValueError:
            return Reply(400, {"code": 4, "message": "Invalid value passed for JSONString"})
        if body.get("customer_id") != CUSTOMER:
            problems.append("Invalid value passed for customer_id")
        problems += [f"Invalid value passed for tax_id {ln.get('tax_id')!r}" for ln in body.get("line_items") or []
                     if ln.get("tax_id") is not None and ln["tax_id"] not in TAXES]
        if problems:
            return Reply(400, {"code": 2, "message": "; ".join(problems)})
        field, pool = ("creditnote_number", self.creditnotes) if credit else ("invoice_number", self.invoices)
        manual = req.query.get("ignore_auto_number_generation") == "true"
        number = body.get(field) if manual else f"{'CN' if credit else 'INV'}-{len(pool) + 1:06d}"
        if manual and not number:
            return Reply(400, {"code": 2, "message": f"Invalid value passed for {field}"})
        if any(d[field] == number for d in pool.values()):
            return Reply(400, {"code": 1001, "message": f'{"Credit note" if credit else "Invoice"} "{number}" already exists.'})
        amounts = [ln["rate"] * ln["quantity"] - Decimal(str(ln.get("discount", 0))) for ln in body["line_items"]]
        by_tax: dict[str, Decimal] = {}
        for ln, amount in zip(body["line_items"], amounts):
            if ln.get("tax_id"):
                by_tax[ln["tax_id"]] = by_tax.get(ln["tax_id"], Decimal(0)) + amount
        tax_total = sum((_q(v * TAXES[k] / 100) for k, v in by_tax.items()), Decimal(0))
        sub_total = _q(sum(amounts, Decimal(0)))
        doc = {**body, field: number, "status": "open" if credit else "draft", "sub_total": sub_total,
               "tax_total": tax_total, "total": sub_total + tax_total, "balance": sub_total + tax_total}
        doc_id = self._new_id()
        if credit:
            self.creditnotes[doc_id] = doc | {"creditnote_id": doc_id, "credited": []}
        else:
            self.invoices[doc_id] = self.created[doc_id] = doc | {"invoice_id": doc_id}
        self.booked[doc_id] = Booked("credit_note" if credit else "invoice", sub_total + tax_total, tax_total)
        key = "creditnote" if credit else "invoice"
        return Reply(201, {"code": 0, "message": f"The {'credit note' if credit else 'invoice'} has been created.",
                           key: out(pool[doc_id])})

    def _apply(self, note: dict[str, Any], req: Req) -> Reply:
        body = dec_json(req)
        problems = validate("credit-to-an-invoice-request", json.loads(req.body))
        if problems:
            return Reply(400, {"code": 2, "message": "; ".join(problems)})
        for item in body.get("invoices") or [{"invoice_id": body["invoice_id"], "amount_applied": body["amount_applied"]}]:
            invoice, amount = self.invoices.get(str(item.get("invoice_id"))), Decimal(item.get("amount_applied", 0))
            if invoice is None or invoice["customer_id"] != note["customer_id"]:
                return Reply(400, {"code": 1002, "message": "Invoice does not exist."})
            if invoice["status"] == "draft":
                return Reply(400, {"code": 12004, "message": "Credits cannot be applied to draft invoices."})
            if not 0 < amount <= min(invoice["balance"], note["balance"]):
                return Reply(400, {"code": 12006, "message": "The amount applied exceeds the balance."})
            invoice["balance"] -= amount
            note["balance"] -= amount
            note["credited"].append({"creditnote_id": note["creditnote_id"], "invoice_id": invoice["invoice_id"],
                                     "invoice_number": invoice["invoice_number"], "amount_applied": amount})
            self.booked[note["creditnote_id"]].linked_to = invoice["invoice_id"]
        return Reply(200, {"code": 0, "message": "Credits have been applied to the invoice(s)."})


def make_fake() -> FakeZohoBooks:
    return FakeZohoBooks()
