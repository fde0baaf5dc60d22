"""Salesforce stand-in: OAuth client-credentials token, Revenue Cloud Billing generate, SOQL on Invoice,
sObject PATCH. Errors are ``[{"errorCode", "message"}]`` as the REST API answers.

Simplification (documented): generate is asynchronous in Salesforce; here the Invoice exists as soon as
the call returns. An Order is invoiced once (its billing schedules are then billed up to the target date).
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer, dec_json

V = "/services/data/v63.0"
ACCOUNT = "001SG00000mYtRWYA0"
ORDER = "801SG00000mYtaXYAS"
FIELD = "External_Invoice_Number__c"
_CODES = {400: "MALFORMED_QUERY", 401: "INVALID_SESSION_ID", 403: "INSUFFICIENT_ACCESS", 404: "NOT_FOUND",
          422: "FIELD_INTEGRITY_EXCEPTION", 429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION", 503: "SERVER_UNAVAILABLE"}
_BY_NUMBER = re.compile(rf"SELECT Id, DocumentNumber FROM Invoice WHERE {FIELD} = '([^']*)' LIMIT 1")
_UNSTAMPED = re.compile(rf"SELECT Id FROM Invoice WHERE ReferenceEntityId = '(\w+)' AND InvoiceDate = (\d{{4}}-\d\d-\d\d) "
                        rf"AND {FIELD} = null AND Status != 'Canceled' ORDER BY CreatedDate LIMIT 1")


def errors(status: int, message: str, code: str | None = None) -> list[dict[str, Any]]:
    return [{"errorCode": code or _CODES.get(status, "UNKNOWN_EXCEPTION"), "message": message}]


class FakeSalesforce(FakeTarget):
    target = "salesforce"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials", client_id="3MVG9cid")
        self.invoices: dict[str, dict[str, Any]] = {}
        self.orders = {ORDER: {"AccountId": ACCOUNT, "invoiced": False, "amount": Decimal("1190.00")}}
        self.generate_calls: list[Any] = []

    def env(self) -> dict[str, str]:
        p = "INVOICING_SALESFORCE_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "3MVG9cid", p + "CLIENT_SECRET": SECRET,
                p + "ID_MAP": f'{{"customer:*": "{ACCOUNT}"}}'}

    def error_body(self, status: int) -> Any:
        return errors(status, f"Injected HTTP {status}.")

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/services/oauth2/token":
            reply = self.tokens.issue(req)
            if reply.status == 200:
                reply.body = {**reply.body, "instance_url": self.url, "id": f"{self.url}/id/00D/005", "issued_at": "0",
                              "signature": "x"}
                reply.body.pop("expires_in", None)  # Salesforce does not send expires_in
            return reply
        if not self.tokens.authorised(req):
            return Reply(401, errors(401, "Session expired or invalid"))
        if req.method == "GET" and req.path == f"{V}/query":
            return self.query(req.query.get("q", ""))
        if req.method == "POST" and req.path == f"{V}/commerce/invoicing/invoices/collection/actions/generate":
            return self.generate(req)
        m = re.fullmatch(rf"{V}/sobjects/Invoice/(\w+)", req.path)
        if m and req.method == "PATCH":
            inv = self.invoices.get(m.group(1))
            if inv is None:
                return Reply(404, errors(404, "The requested resource does not exist"))
            body = dec_json(req)
            if set(body) != {FIELD}:
                return Reply(400, errors(400, f"No such column '{sorted(body)}' on sobject of type Invoice", "INVALID_FIELD"))
            if any(i[FIELD] == body[FIELD] for i in self.invoices.values() if i is not inv):
                return Reply(400, errors(400, "duplicate value found: External_Invoice_Number__c", "DUPLICATE_VALUE"))
            inv[FIELD] = body[FIELD]
            return Reply(204, b"")
        return Reply(404, errors(404, "The requested resource does not exist"))

    def query(self, q: str) -> Reply:
        m = _BY_NUMBER.fullmatch(q)
        if m:
            rows = [i for i in self.invoices.values() if i[FIELD] == m.group(1)][:1]
        elif (m := _UNSTAMPED.fullmatch(q)):
            rows = [i for i in self.invoices.values() if i["ReferenceEntityId"] == m.group(1)
                    and i["InvoiceDate"] == m.group(2) and i[FIELD] is None][:1]
        else:
            return Reply(400, errors(400, f"unexpected token in: {q[:80]}", "MALFORMED_QUERY"))
        records = [{"attributes": {"type": "Invoice", "url": f"{V}/sobjects/Invoice/{r['Id']}"},
                    "Id": r["Id"], "DocumentNumber": r["DocumentNumber"]} for r in rows]
        return Reply(200, {"totalSize": len(records), "done": True, "records": records})

    def generate(self, req: Req) -> Reply:
        body = dec_json(req)
        if not isinstance(body, dict) or body.get("action") not in ("Draft", "Posted"):
            return Reply(400, errors(400, "Specify a valid action: Draft or Posted.", "INVALID_INPUT"))
        for f in ("invoiceDate", "targetDate"):
            if f in body and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body[f])):
                return Reply(400, errors(400, f"Invalid date for {f}.", "INVALID_INPUT"))
        self.generate_calls.append(body)
        ref = body.get("billingTransactionId") or body.get("accountId")
        if body.get("billingTransactionId"):
            order = self.orders.get(ref)
            if order is None:
                return Reply(400, errors(400, "Specify a valid billing transaction ID.", "INVALID_ID_FIELD"))
            if order["invoiced"]:  # schedules already billed to the target date: nothing to invoice
                return Reply(201, {"requestIdentifier": f"req{len(self.generate_calls)}", "success": True, "errors": []})
            order["invoiced"] = True
        elif ref != ACCOUNT:
            return Reply(400, errors(400, "Specify a valid account ID.", "INVALID_ID_FIELD"))
        inv_id = f"3ttSG{len(self.invoices) + 1:013d}"
        inv = {"Id": inv_id, "DocumentNumber": f"INV-{len(self.invoices) + 1:08d}", "ReferenceEntityId": ref,
               "InvoiceDate": body.get("invoiceDate"), "Status": body["action"], FIELD: None,
               "correlationId": body.get("correlationId")}
        self.invoices[inv_id] = inv
        self.created[inv_id] = inv
        return Reply(201, {"requestIdentifier": f"req{len(self.generate_calls)}", "success": True, "errors": []})


def make_fake() -> FakeSalesforce:
    return FakeSalesforce()
