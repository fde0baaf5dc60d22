"""Oracle Fusion stand-in: ``/fscmRestApi/resources/11.13.18.05/receivablesInvoices`` (GET with q, POST).

Checks what the Financials REST guide fixes ("Create an Invoice with Lines"): the
``application/vnd.oracle.adf.resourceitem+json`` content type, HTTP Basic (or a Bearer token
from the IDCS token endpoint at ``/oauth2/v1/token``), the header fields and
``receivablesInvoiceLines[]`` {LineNumber, Description, Quantity, UnitSellingPrice} as numbers.
A transaction source that disallows duplicate numbers refuses a second ``TransactionNumber``.
Errors: ``{"title", "status", "o:errorDetails": [...]}`` (``application/vnd.oracle.adf.error+json``);
401 is plain text.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

USERNAME = "invoicing.integration"
PASSWORD = "fusion-pass-3c9d1e"
CLIENT_ID = "fusion-oauth-client"
CLIENT_SECRET = "fusion-oauth-secret-77aa"
BUSINESS_UNITS = {"Vision Operations"}
SOURCES = {"Invoicing Pipeline": False}  # name → AllowDuplicateTrxNumFlag
TYPES = {"Invoice"}
_RESOURCE = "/fscmRestApi/resources/11.13.18.05/receivablesInvoices"
_ERR = "application/vnd.oracle.adf.error+json"
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def oracle_error(status: int, *details: tuple[str, str]) -> Reply:
    if status == 401:
        return Reply(401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Oracle Fusion"'}, "text/plain")
    return Reply(status, {"title": _TITLES.get(status, "Error"), "status": str(status),
                          "o:errorDetails": [{"detail": d, "o:errorCode": c} for c, d in details]}, {}, _ERR)


class OracleFusionFake(FakeTarget):
    target = "oracle-fusion"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.next_id = 300100170996000

    def env(self) -> dict[str, str]:
        p = "INVOICING_ORACLE_FUSION_"
        return {p + "BASE_URL": self.url, p + "USERNAME": USERNAME, p + "PASSWORD": PASSWORD}

    def oauth_env(self) -> dict[str, str]:
        p = "INVOICING_ORACLE_FUSION_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET,
                p + "TOKEN_URL": self.url + "/oauth2/v1/token"}

    def error_body(self, status: int) -> Any:
        reply = oracle_error(status, ("FND-2000", {429: "Request rate exceeded", 403: "You don't have permission to "
                                                   "create receivables invoices."}.get(status, f"HTTP {status}")))
        return reply.body

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _authorised(self, req: Req) -> bool:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == f"{USERNAME}:{PASSWORD}"
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth2/v1/token":
            auth = req.headers.get("authorization", "")
            good = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if auth != f"Basic {good}" or req.form().get("grant_type") != "client_credentials":
                return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
            self.token_requests += 1
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        if not req.path.startswith(_RESOURCE):
            return oracle_error(404, ("404", f"Resource {req.path} not found"))
        if not self._authorised(req):
            return oracle_error(401)
        if req.method == "GET" and req.path == _RESOURCE:
            return self._find(req)
        if req.method == "POST" and req.path == _RESOURCE:
            if req.headers.get("content-type", "").split(";")[0] != "application/vnd.oracle.adf.resourceitem+json":
                return Reply(415, b"Unsupported Media Type", {}, "text/plain")
            return self._create(json.loads(req.body, parse_float=Decimal))
        return oracle_error(405, ("405", "Method not allowed"))

    def _find(self, req: Req) -> Reply:
        q = req.query.get("q", "")
        conds = dict(re.findall(r"(\w+)='((?:[^']|'')*)'", q))
        if not conds or not re.fullmatch(r"\w+='(?:[^']|'')*'( and \w+='(?:[^']|'')*')*", q):
            return oracle_error(400, ("FND-2010", f"The query expression {q!r} is not valid."))
        conds = {k: v.replace("''", "'") for k, v in conds.items()}
        rows = [r for r in self.created.values() if all(str(r.get(k)) == v for k, v in conds.items())]
        fields = req.query.get("fields", "").split(",") if req.query.get("fields") else None
        items = [{f: r.get(f) for f in fields} if fields else r for r in rows]
        return Reply(200, {"items": items, "count": len(items), "hasMore": False, "limit": 25, "offset": 0})

    def _create(self, body: dict[str, Any]) -> Reply:
        problems = []
        for f in ("BusinessUnit", "TransactionSource", "TransactionType", "TransactionDate", "BillToCustomerNumber",
                  "InvoiceCurrencyCode", "PaymentTerms", "DueDate"):
            if not body.get(f):
                problems.append(("AR-855014", f"The value for the attribute {f} is required."))
        if body.get("BusinessUnit") and body["BusinessUnit"] not in BUSINESS_UNITS:
            problems.append(("AR-855023", f"The business unit {body['BusinessUnit']} is not valid."))
        if body.get("TransactionSource") and body["TransactionSource"] not in SOURCES:
            problems.append(("AR-855052", f"The transaction source {body['TransactionSource']} is not valid."))
        if body.get("TransactionType") and body["TransactionType"] not in TYPES:
            problems.append(("AR-855053", f"The transaction type {body['TransactionType']} is not valid."))
        for d in ("TransactionDate", "DueDate"):
            if body.get(d) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body[d])):
                problems.append(("AR-855060", f"The date {body[d]} is not in the format YYYY-MM-DD."))
        lines = body.get("receivablesInvoiceLines") or []
        if not lines:
            problems.append(("AR-855100", "You must provide at least one invoice line."))
        for i, ln in enumerate(lines, 1):
            if ln.get("LineNumber") != i:
                problems.append(("AR-855101", f"Line numbers must be 1..n; got {ln.get('LineNumber')!r}."))
            if not ln.get("Description") or not isinstance(ln.get("Quantity"), (int, Decimal)) \
                    or not isinstance(ln.get("UnitSellingPrice"), (int, Decimal)):
                problems.append(("AR-855102", f"Line {i} needs Description, and Quantity and UnitSellingPrice as numbers."))
        if problems:
            return oracle_error(400, *problems)
        number = body.get("TransactionNumber")
        if number and not SOURCES[body["TransactionSource"]] and any(
                r["TransactionNumber"] == number and r["TransactionSource"] == body["TransactionSource"]
                for r in self.created.values()):
            return oracle_error(400, ("AR-855085", f"The transaction number {number} already exists for the transaction "
                                                   f"source {body['TransactionSource']}."))
        self.next_id += 1
        item = {**body, "CustomerTransactionId": self.next_id, "TransactionNumber": number or str(self.next_id),
                "InvoiceStatus": "Complete",
                "EnteredAmount": sum(Decimal(str(ln["Quantity"])) * Decimal(str(ln["UnitSellingPrice"])) for ln in lines)}
        self.created[str(self.next_id)] = item
        out = json.loads(json.dumps(item, default=str))
        return Reply(201, out, {"Location": f"{self.url}{_RESOURCE}/{self.next_id}"}, "application/vnd.oracle.adf.resourceitem+json")


def make_fake() -> OracleFusionFake:
    return OracleFusionFake()
