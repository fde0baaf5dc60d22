"""Sage Intacct stand-in: REST ``/ia/api/v1`` (OAuth2 token, query service, AR invoices, customers).

Checks the documented shapes: form-encoded ``POST /oauth2/token`` (client credentials
with ``username``, or refresh token), ``Authorization: Bearer``, the query body
``{"object", "fields", "filters": [{"$eq": {...}}]}``, and an AR invoice with ``customer.id``,
``invoiceNumber``, ``invoiceDate``/``dueDate`` (YYYY-MM-DD), ``currency.txnCurrency`` and
``lines[]`` with ``glAccount.id`` and a decimal-string ``txnAmount``. Answers with
``{"ia::result": ..., "ia::meta": ...}``; errors with ``{"ia::error": {...}, "ia::meta": ...}``.
"""
from __future__ import annotations

import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

CLIENT_ID = "b7c2f0.app.sage.com"
CLIENT_SECRET = "intacct-client-secret-9f8e7d"
USERNAME = "ws_invoicing@KOMPRESSOR"
_API = "/ia/api/v1"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
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
        self.next_key = 400

    @property
    def url(self) -> str:
        return super().url + _API

    def env(self) -> dict[str, str]:
        p = "INVOICING_SAGE_INTACCT_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET, p + "USERNAME": USERNAME}

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
            body = req.json()
        except ValueError:
            return ia_error(400, "The request payload is not valid JSON")
        if (req.method, path) == ("POST", "/services/core/query"):
            return self._query(body)
        if (req.method, path) == ("POST", "/objects/accounts-receivable/invoice"):
            return self._create_invoice(body)
        if (req.method, path) == ("POST", "/objects/accounts-receivable/customer"):
            return self._create_customer(body)
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
        else:
            return ia_error(400, f"Object {body['object']} is not supported by the fake")
        rows = [r for r in rows if all(r.get(k) == v for k, v in eq.items())]
        size = int(body.get("size", 100))
        out = [{f: r.get(f) for f in body["fields"]} for r in rows[:size]]
        return Reply(200, {"ia::result": out, "ia::meta": {"totalCount": len(rows), "start": 1, "pageSize": size,
                                                          "next": None, "previous": None}})

    def _create_customer(self, body: dict[str, Any]) -> Reply:
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
        problems = []
        if not isinstance(body, dict):
            return ia_error(400, "The request payload must be an object")
        cust = (body.get("customer") or {}).get("id")
        if cust not in self.customers:
            problems.append({"code": "invalidReference", "message": f"Customer {cust} does not exist", "target": "customer.id"})
        for f in ("invoiceDate", "dueDate"):
            if not _DATE.match(str(body.get(f, ""))):
                problems.append({"code": "invalidValue", "message": f"{f} must be YYYY-MM-DD", "target": f})
        if not re.match(r"^[A-Z]{3}$", str((body.get("currency") or {}).get("txnCurrency", ""))):
            problems.append({"code": "invalidValue", "message": "currency.txnCurrency must be an ISO code", "target": "currency"})
        lines = body.get("lines") or []
        if not lines:
            problems.append({"code": "required", "message": "At least one line is required", "target": "lines"})
        for i, ln in enumerate(lines):
            if not isinstance(ln.get("txnAmount"), str) or not _AMOUNT.match(ln["txnAmount"]):
                problems.append({"code": "invalidValue", "message": f"/lines/{i}/txnAmount must be a decimal string"})
            if not (ln.get("glAccount") or {}).get("id"):
                problems.append({"code": "required", "message": f"/lines/{i}/glAccount.id is required"})
        if problems:
            return ia_error(422, "Operation create object accounts-receivable/invoice failed", problems)
        if any(r["invoiceNumber"] == body.get("invoiceNumber") for r in self.created.values()) and body.get("invoiceNumber"):
            return ia_error(422, f"Invoice number {body['invoiceNumber']} already exists", code="duplicateValue")
        self.next_key += 1
        key = str(self.next_key)
        try:
            total = sum(Decimal(ln["txnAmount"]) for ln in lines)
        except InvalidOperation:
            return ia_error(400, "txnAmount is not a number")
        self.created[key] = {**body, "key": key, "id": key, "state": "posted", "totalTxnAmount": str(total)}
        return Reply(201, {"ia::result": {"key": key, "id": key, "href": f"/objects/accounts-receivable/invoice/{key}"},
                           "ia::meta": {"totalCount": 1, "totalSuccess": 1, "totalError": 0}})


def make_fake() -> SageIntacctFake:
    return SageIntacctFake()
