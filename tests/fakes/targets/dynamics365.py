"""Dataverse Web API stand-in: ``invoices`` with ``invoice_details`` deep insert, ``$filter`` look-up,
Entra ID token endpoint, service-protection 429s, errors as ``{"error": {"code", "message"}}``."""
from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer, dec_json

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ACCOUNT = "a1b2c3d4-0000-4000-8000-000000000001"
CURRENCIES = {"EUR": "c0000000-0000-4000-8000-0000000000e1", "JPY": "c0000000-0000-4000-8000-0000000000e2",
              "USD": "c0000000-0000-4000-8000-0000000000e3", "GBP": "c0000000-0000-4000-8000-0000000000e4"}
ID_MAP = ('{"customer:*": "%s", ' % ACCOUNT) + ", ".join(f'"currency:{k}": "{v}"' for k, v in CURRENCIES.items()) + "}"
API = "/api/data/v9.2"
_CODES = {400: "0x80048d19", 401: "0x80072560", 403: "0x80040220", 404: "0x80060888", 412: "0x80060892",
          422: "0x80044331", 429: "0x80072322", 500: "0x80040216", 503: "0x80040216"}
_BIND = re.compile(r"^/(\w+)\(([0-9a-f-]{36})\)$")


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": _CODES.get(status, "0x80040216"), "message": message}}


class FakeDataverse(FakeTarget):
    target = "dynamics365"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials")
        self.invoices: dict[str, dict[str, Any]] = {}

    def env(self) -> dict[str, str]:
        p = "INVOICING_DYNAMICS365_"
        return {p + "BASE_URL": self.url, p + "TENANT": TENANT, p + "CLIENT_ID": "cid", p + "CLIENT_SECRET": SECRET,
                p + "TOKEN_URL": f"{self.url}/{TENANT}/oauth2/v2.0/token", p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        if status == 429:
            return error(429, "Number of requests exceeded the limit of 6000 over time window of 300 seconds.")
        return error(status, f"Injected HTTP {status}.")

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == f"/{TENANT}/oauth2/v2.0/token":
            if req.form().get("scope") != f"{self.url}/.default":
                return Reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope."})
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, b"", {"WWW-Authenticate": f'Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize'})
        if req.headers.get("odata-version") != "4.0":
            return Reply(400, error(400, "OData-Version header must be 4.0."))
        if req.path == f"{API}/invoices" and req.method == "GET":
            m = re.fullmatch(r"invoicenumber eq '((?:[^']|'')*)'", req.query.get("$filter", ""))
            if not m:
                return Reply(400, error(400, "Could not find a property named in $filter."))
            number = m.group(1).replace("''", "'")
            rows = [{"@odata.etag": 'W/"1"', "invoiceid": i["invoiceid"], "invoicenumber": i["invoicenumber"]}
                    for i in self.invoices.values() if i["invoicenumber"] == number]
            return Reply(200, {"@odata.context": f"{self.url}{API}/$metadata#invoices(invoiceid,invoicenumber)", "value": rows})
        if req.path == f"{API}/invoices" and req.method == "POST":
            return self.create(req)
        return Reply(404, error(404, f"Resource not found for the segment '{req.path.rsplit('/', 1)[-1]}'."))

    def create(self, req: Req) -> Reply:
        body = dec_json(req)
        problem = validate(body)
        if problem:
            return Reply(400, error(400, problem))
        invoice_id = str(uuid.uuid4())
        lines = body["invoice_details"]
        stored = {**body, "invoiceid": invoice_id,
                  "totallineitemamount": sum((d["quantity"] * d["priceperunit"] - d.get("manualdiscountamount", 0)
                                              for d in lines), Decimal(0)),
                  "totaltax": sum((d.get("tax", Decimal(0)) for d in lines), Decimal(0))}
        stored["totalamount"] = stored["totallineitemamount"] + stored["totaltax"]
        self.invoices[invoice_id] = stored
        self.created[invoice_id] = stored
        return Reply(204, b"", {"OData-EntityId": f"{self.url}{API}/invoices({invoice_id})"})


def validate(body: Any) -> str | None:
    """The invoice and invoicedetail attributes we send, typed as the Dataverse metadata declares them."""
    if not isinstance(body, dict):
        return "The request body is not a valid entity."
    if not body.get("name"):
        return "A validation error occurred. The value of 'name' on record of type 'invoice' is outside the valid range."
    for key, entity, known in (("customerid_account@odata.bind", "accounts", {ACCOUNT}),
                               ("transactioncurrencyid@odata.bind", "transactioncurrencies", set(CURRENCIES.values()))):
        m = _BIND.match(str(body.get(key, "")))
        if not m or m.group(1) != entity or m.group(2) not in known:
            return f"{entity} With Id = {body.get(key)} Does Not Exist"
    details = body.get("invoice_details")
    if not isinstance(details, list) or not details:
        return "An invoice needs invoice_details."
    for d in details:
        if d.get("isproductoverridden") is not True or not d.get("productdescription"):
            return "Write-in products need isproductoverridden=true and productdescription."
        for f in ("quantity", "priceperunit", "manualdiscountamount", "tax"):
            if f in d and not isinstance(d[f], Decimal):
                return f"Cannot convert the literal to the expected type 'Edm.Decimal' for {f}."
    return None


def make_fake() -> FakeDataverse:
    return FakeDataverse()
