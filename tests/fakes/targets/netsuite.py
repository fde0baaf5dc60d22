"""NetSuite REST record API stand-in: external-id upsert, sales-order transform, M2M token endpoint.

Answers as NetSuite documents: 204 + ``Location`` on create/upsert, the record on GET, and errors as
RFC 9457 problem details ``{"type","title","status","o:errorDetails":[{"detail","o:errorCode"}]}``.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer, dec_json, out

RECORD = "/services/rest/record/v1"
TOKEN = "/services/rest/auth/oauth2/v1/token"
ID_MAP = ('{"customer:*": "1042", "item:*": "77", "currency:EUR": "1", "currency:USD": "2", "currency:GBP": "3", "currency:JPY": "4", "currency:CHF": "5", "tax:S:19": "5", "tax:S:7": "6", '
          '"tax:Z:0": "7", "tax:E:0": "8", "tax:AE:0": "9", "tax:K:0": "10", "tax:G:0": "11", "tax:O:0": "12"}')
_EID = re.compile(r"^[A-Za-z0-9_-]+$")
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
_CODES = {400: "INVALID_CONTENT", 401: "INVALID_LOGIN", 403: "INSUFFICIENT_PERMISSION", 404: "NONEXISTENT_ID",
          422: "USER_ERROR", 429: "CONCURRENCY_LIMIT_EXCEEDED", 500: "UNEXPECTED_ERROR", 503: "UNEXPECTED_ERROR"}


def problem(status: int, detail: str, code: str | None = None) -> dict[str, Any]:
    return {"type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.{5 if status < 500 else 6}",
            "title": _TITLES.get(status, "Error"), "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": code or _CODES.get(status, "USER_ERROR")}]}


class FakeNetSuite(FakeTarget):
    target = "netsuite"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials", basic=True)
        self.by_eid: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.sales_orders = {"5001": {"status": "pendingBilling", "entity": "1042"}}
        self.next_id = 9000

    def env(self) -> dict[str, str]:
        p = "INVOICING_NETSUITE_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "cid", p + "CLIENT_SECRET": SECRET, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return problem(status, f"Injected HTTP {status}.")

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == TOKEN:
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, problem(401, "Invalid login attempt. For more details, see the Login Audit Trail.",
                                      "INVALID_LOGIN"))
        m = re.fullmatch(RECORD + r"/invoice/eid:(.+)", req.path)
        if m and req.method == "GET":
            iid = self.by_eid.get(m.group(1))
            if iid is None:
                return Reply(404, problem(404, f"The record instance does not exist. Provide a valid record instance ID."))
            return Reply(200, out(self.records[iid]))
        if m and req.method == "PUT":
            return self.upsert(m.group(1), req)
        m = re.fullmatch(RECORD + r"/salesOrder/(\w+)/!transform/invoice", req.path)
        if m and req.method == "POST":
            return self.transform(m.group(1), req)
        return Reply(404, problem(404, f"Invalid URL {req.path}.", "INVALID_URL"))

    def _store(self, eid: str, record: dict[str, Any]) -> Reply:
        iid = self.by_eid.get(eid)
        if iid is None:
            self.next_id += 1
            iid = str(self.next_id)
            self.by_eid[eid] = iid
            self.created[eid] = record
        record = {**record, "id": iid, "externalId": eid,
                  "links": [{"rel": "self", "href": f"{self.url}{RECORD}/invoice/{iid}"}]}
        self.records[iid] = record
        return Reply(204, b"", {"Location": f"{self.url}{RECORD}/invoice/{iid}"})

    def upsert(self, eid: str, req: Req) -> Reply:
        if not _EID.match(eid):
            return Reply(400, problem(400, "Invalid external ID: use letters, digits, '_' and '-' only.", "INVALID_ID"))
        if req.headers.get("content-type", "").split(";")[0] != "application/json":
            return Reply(415, problem(415, "Unsupported media type."))
        body = dec_json(req)
        error = validate_invoice(body)
        if error:
            return Reply(400, problem(400, error, "USER_ERROR"))
        if body.get("externalId", eid) != eid:
            return Reply(400, problem(400, "externalId in the body differs from the URL.", "INVALID_FLD_VALUE"))
        return self._store(eid, body)

    def transform(self, so: str, req: Req) -> Reply:
        order = self.sales_orders.get(so)
        if order is None:
            return Reply(404, problem(404, f"The record instance does not exist.", "NONEXISTENT_ID"))
        if order["status"] != "pendingBilling":
            return Reply(400, problem(400, "You can not initialize invoice: invalid reference key.", "USER_ERROR"))
        body = dec_json(req) or {}
        eid = body.get("externalId")
        if not eid or not _EID.match(eid):
            return Reply(400, problem(400, "Please enter a value for externalId.", "USER_ERROR"))
        if eid in self.by_eid:  # NetSuite: external ids are unique per record type
            return Reply(400, problem(400, "A record with this external ID already exists.", "DUP_RCRD"))
        order["status"] = "fullyBilled"
        return self._store(eid, {**body, "createdFrom": {"id": so}, "entity": {"id": order["entity"]}})


def _ref(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"].isdigit()


def validate_invoice(body: Any) -> str | None:
    """The invoice record's shape as the REST metadata catalog describes it (fields we use)."""
    if not isinstance(body, dict):
        return "Invalid JSON body."
    for f in ("entity", "currency"):
        if not _ref(body.get(f)):
            return f"Please enter value(s) for: {f} (a reference {{\"id\": \"<internal id>\"}})."
    if not isinstance(body.get("tranId"), str) or not body["tranId"]:
        return "Please enter value(s) for: tranId."
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body.get("tranDate", ""))):
        return "Invalid tranDate: use YYYY-MM-DD."
    items = (body.get("item") or {}).get("items")
    if not isinstance(items, list) or not items:
        return "You must enter at least one line item for this transaction."
    refs = set()
    for i, it in enumerate(items):
        if not _ref(it.get("item")):
            return f"item.items[{i}].item must be a reference."
        for f in ("quantity", "rate", "amount"):
            if not isinstance(it.get(f), Decimal):
                return f"item.items[{i}].{f} must be a number."
        refs.add(it.get("taxDetailsReference"))
    if body.get("taxDetailsOverride"):
        for d in (body.get("taxDetails") or {}).get("items") or []:
            if d.get("taxDetailsReference") not in refs or not _ref(d.get("taxCode")):
                return "taxDetails: each item needs a line's taxDetailsReference and a taxCode reference."
            if not all(isinstance(d.get(f), Decimal) for f in ("taxBasis", "taxRate", "taxAmount")):
                return "taxDetails: taxBasis, taxRate and taxAmount must be numbers."
    return None


def make_fake() -> FakeNetSuite:
    return FakeNetSuite()
