"""Sage Intacct stand-in: REST ``/ia/api/v1`` (OAuth2 token, query service, AR invoices, adjustments, customers).

Checks form-encoded ``POST /oauth2/token`` (client credentials with ``username``, or refresh
token), ``Authorization: Bearer``, the query body ``{"object", "fields", "filters": [{"$eq": {...}}]}``,
and validates invoice, adjustment and customer bodies with jsonschema against the trimmed copy of
Sage Intacct's Accounts Receivable OpenAPI definition (tests/fakes/specs/sage_intacct_ar.trimmed.json).

Intacct's arithmetic as modelled here: a line's tax entry names an Order Entry tax detail whose
rate must be the entry's ``taxRate``; ``txnTaxAmount`` when given is kept (an override, accepted
within one cent of the line's amount × rate [U]), else computed per line and rounded. An
adjustment is a credit memo when its amounts are negative; its ``documentNumber`` must be an
invoice of the same customer, whose key is what it is linked to. Answers with
``{"ia::result": ..., "ia::meta": ...}``; errors with ``{"ia::error": {...}, "ia::meta": ...}``.
"""
from __future__ import annotations

import json
import re
import secrets
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

CLIENT_ID = "b7c2f0.app.sage.com"
CLIENT_SECRET = "intacct-client-secret-9f8e7d"
USERNAME = "ws_invoicing@KOMPRESSOR"
_API = "/ia/api/v1"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "sage_intacct_ar.trimmed.json").read_text())
#: the company's Order Entry tax details (rate %), and the mapping the sink is configured with
TAX_DETAILS = {"DE Sales 19": Decimal(19), "DE EU Goods 0": Decimal(0), "DE EU Services RC": Decimal(0),
               "DE Export 0": Decimal(0), "US Exempt Resale": Decimal(0), "Not subject": Decimal(0),
               "US MA 6.25": Decimal("6.25"), "US NY 4": Decimal(4), "US WA 6.5": Decimal("6.5"), "US CA 7.25": Decimal("7.25")}
TAX_MAP = {"S:19": "DE Sales 19", "K:0": "DE EU Goods 0", "AE:0": "DE EU Services RC", "G:0": "DE Export 0",
           "E:0": "US Exempt Resale", "O:0": "Not subject", "S:6.25": "US MA 6.25", "S:4": "US NY 4",
           "S:6.5": "US WA 6.5", "S:7.25": "US CA 7.25"}


def spec_validator(schema: str) -> jsonschema.Draft202012Validator:
    """A validator for one request schema of the trimmed Intacct AR definition."""
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]})
_CODES = {400: "invalidRequest", 401: "unauthorized", 403: "forbidden", 404: "notFound", 409: "conflict",
          422: "operationFailed", 429: "tooManyRequests", 500: "internalError", 503: "serviceUnavailable"}


def ia_error(status: int, message: str, details: list[dict[str, Any]] | None = None, code: str | None = None) -> Reply:
    err: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message,
                           "supportId": "Kx1Yw%7EZ0pQvDEVz9bq3c2aAAAAAQ"}
    if details:
        err["details"] = details
    return Reply(status, {"ia::error": err, "ia::meta": {"totalCount": 1, "totalSuccess": 0, "totalError": 1}})


class SageIntacctFake(FakeTarget):
    target = "sage-intacct"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.adjustments: dict[str, dict[str, Any]] = {}
        self.next_key = 400

    @property
    def url(self) -> str:
        return super().url + _API

    def env(self) -> dict[str, str]:
        p = "INVOICING_SAGE_INTACCT_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET, p + "USERNAME": USERNAME,
                p + "TAX_DETAILS": json.dumps(TAX_MAP)}

    def error_body(self, status: int) -> Any:
        return ia_error(status, {401: "Invalid or expired access token", 403: "Permission denied for Add Invoices",
                                 429: "Rate limit exceeded"}.get(status, f"HTTP {status}")).body

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def handle(self, req: Req) -> Reply:
        if not req.path.startswith(_API):
            return ia_error(404, "Malformed URL")
        path = req.path[len(_API):]
        if path == "/oauth2/token":
            return self._token(req)
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return ia_error(401, "Invalid or expired access token")
        try:
            body = json.loads(req.body or b"null", parse_float=Decimal)
        except ValueError:
            return ia_error(400, "The request payload is not valid JSON")
        if (req.method, path) == ("POST", "/services/core/query"):
            return self._query(body)
        if (req.method, path) == ("POST", "/objects/accounts-receivable/invoice"):
            return self._create_invoice(body)
        if (req.method, path) == ("POST", "/objects/accounts-receivable/customer"):
            return self._create_customer(body)
        if (req.method, path) == ("POST", "/objects/accounts-receivable/adjustment"):
            return self._create_adjustment(body)
        return ia_error(404, f"Resource {path} not found")

    def _token(self, req: Req) -> Reply:
        form = req.form()
        self.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("grant_type") == "client_credentials" and form.get("username") != USERNAME:
            return Reply(400, {"error": "invalid_grant", "error_description": "username is required (user@company)"})
        if form.get("grant_type") not in ("client_credentials", "refresh_token"):
            return Reply(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _query(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("object"), str) or not isinstance(body.get("fields"), list):
            return ia_error(400, "Query requires 'object' and 'fields'")
        eq: dict[str, Any] = {}
        for f in body.get("filters", []):
            if set(f) != {"$eq"} or len(f["$eq"]) != 1:
                return ia_error(400, f"Unsupported filter {f!r}")
            eq.update(f["$eq"])
        if body["object"] == "accounts-receivable/invoice":
            rows = list(self.created.values())
        elif body["object"] == "accounts-receivable/customer":
            rows = list(self.customers.values())
        elif body["object"] == "accounts-receivable/adjustment":
            rows = list(self.adjustments.values())
        else:
            return ia_error(400, f"Object {body['object']} is not supported by the fake")
        rows = [r for r in rows if all(r.get(k) == v for k, v in eq.items())]
        size = int(body.get("size", 100))
        out = [{f: r.get(f) for f in body["fields"]} for r in rows[:size]]
        return Reply(200, {"ia::result": out, "ia::meta": {"totalCount": len(rows), "start": 1, "pageSize": size,
                                                          "next": None, "previous": None}})

    def _invalid(self, schema: str, body: Any, what: str) -> Reply | None:
        errors = sorted(spec_validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if not errors:
            return None
        return ia_error(400, f"Operation create object {what} failed",
                        [{"code": "invalidRequest", "message": e.message, "target": "/" + "/".join(map(str, e.path))}
                         for e in errors[:5]])

    def _tax(self, amount: Decimal, entries: list[dict[str, Any]]) -> tuple[Decimal, str | None]:
        """Tax of one line as Intacct books it, or a problem."""
        total = Decimal(0)
        for entry in entries:
            detail = (entry.get("orderEntryTaxDetail") or {}).get("id")
            rate = TAX_DETAILS.get(detail or "")
            if rate is None or Decimal(str(entry.get("taxRate"))) != rate:
                return total, f"Tax detail {detail!r} with rate {entry.get('taxRate')} is not valid for this tax solution"
            computed = (amount * rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            given = Decimal(entry["txnTaxAmount"]) if entry.get("txnTaxAmount") is not None else computed
            if abs(given - amount * rate / 100) >= Decimal("0.01"):
                return total, f"Tax amount {given} is not {rate} % of {amount}"
            total += given
        return total, None

    def _create_customer(self, body: dict[str, Any]) -> Reply:
        invalid = self._invalid("customer-create", body, "accounts-receivable/customer")
        if invalid:
            return invalid
        if not body.get("id") or not body.get("name"):
            return ia_error(400, "Customer requires id and name")
        if body["id"] in self.customers:
            return ia_error(422, f"Another Customer with the given value(s) {body['id']} already exists", code="duplicateValue")
        self.next_key += 1
        self.customers[body["id"]] = {**body, "key": str(self.next_key)}
        return Reply(201, {"ia::result": {"key": str(self.next_key), "id": body["id"],
                                          "href": f"/objects/accounts-receivable/customer/{self.next_key}"},
                           "ia::meta": {"totalCount": 1, "totalSuccess": 1, "totalError": 0}})

    def _create_invoice(self, body: Any) -> Reply:
        invalid = self._invalid("invoice-create", body, "accounts-receivable/invoice")
        if invalid:
            return invalid
        cust = body["customer"]["id"]
        if cust not in self.customers:
            return ia_error(422, "Operation create object accounts-receivable/invoice failed",
                            [{"code": "invalidReference", "message": f"Customer {cust} does not exist", "target": "customer.id"}])
        if not body.get("lines"):
            return ia_error(422, "At least one line is required")
        if any(r["invoiceNumber"] == body.get("invoiceNumber") for r in self.created.values()) and body.get("invoiceNumber"):
            return ia_error(422, f"Invoice number {body['invoiceNumber']} already exists", code="duplicateValue")
        net, tax = Decimal(0), Decimal(0)
        for ln in body["lines"]:
            amount = Decimal(ln["txnAmount"])
            line_tax, problem = self._tax(amount, ln.get("taxEntries") or [])
            if problem:
                return ia_error(422, "Operation create object accounts-receivable/invoice failed", [{"code": "invalidValue",
                                                                                                      "message": problem}])
            net, tax = net + amount, tax + line_tax
        self.next_key += 1
        key = str(self.next_key)
        self.created[key] = {**body, "key": key, "id": key, "state": "posted", "totalTxnAmount": str(net + tax)}
        self.booked[key] = Booked("invoice", net + tax, tax)
        return Reply(201, {"ia::result": {"key": key, "id": key, "href": f"/objects/accounts-receivable/invoice/{key}"},
                           "ia::meta": {"totalCount": 1, "totalSuccess": 1, "totalError": 0}})

    def _create_adjustment(self, body: Any) -> Reply:
        invalid = self._invalid("adjustment-create", body, "accounts-receivable/adjustment")
        if invalid:
            return invalid
        cust = (body.get("customer") or {}).get("id")
        invoice = next((r for r in self.created.values()
                        if r["invoiceNumber"] == body.get("documentNumber") and r["customer"]["id"] == cust), None)
        if invoice is None:
            return ia_error(422, f"Invoice {body.get('documentNumber')} is not an invoice of customer {cust}",
                            code="invalidReference")
        if any(a.get("adjustmentNumber") == body.get("adjustmentNumber") for a in self.adjustments.values()):
            return ia_error(422, f"Adjustment number {body['adjustmentNumber']} already exists", code="duplicateValue")
        net, tax = Decimal(0), Decimal(0)
        for ln in body.get("lines") or []:
            amount = Decimal(ln["txnCurrency"]["amount"])
            line_tax, problem = self._tax(amount, ln.get("taxEntries") or [])
            if problem or amount > 0 or line_tax > 0:
                return ia_error(422, problem or "A credit memo takes negative amounts", code="invalidValue")
            net, tax = net + amount, tax + line_tax
        self.next_key += 1
        key = str(self.next_key)
        self.adjustments[key] = {**body, "key": key, "id": key, "state": "posted"}
        self.booked[key] = Booked("credit_note", -(net + tax), -tax, invoice["key"])
        return Reply(201, {"ia::result": {"key": key, "id": key, "href": f"/objects/accounts-receivable/adjustment/{key}"},
                           "ia::meta": {"totalCount": 1, "totalSuccess": 1, "totalError": 0}})


def make_fake() -> SageIntacctFake:
    return SageIntacctFake()
