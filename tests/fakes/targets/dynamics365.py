"""Dataverse Web API stand-in: ``invoices`` with ``invoice_details`` deep insert, ``$filter`` look-up,
Entra ID token endpoint, service-protection 429s, errors as ``{"error": {"code", "message"}}``.

The body is checked by `validate` against the column metadata of Microsoft's Dynamics 365 Sales table
reference (tests/fakes/specs/dynamics365_invoice_attributes.json): only writable columns of the table
(or a documented ``…@odata.bind`` / the ``invoice_details`` collection), none that is not valid for
create, values of the column's Web API type (``Edm.Date`` for DateOnly behavior, ``Edm.DateTimeOffset``
for UserLocal, numbers for Money/Decimal, strings within MaxLength). Totals are Dataverse's: a
product's amount is quantity × price per unit − manual discount, its ``tax`` is the amount given,
``totaltax`` the sum of the products' tax.
"""
from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
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
SPEC = Path(__file__).resolve().parent.parent / "specs" / "dynamics365_invoice_attributes.json"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    tables: dict[str, Any] = json.loads(SPEC.read_text())
    return tables


def _value_problem(column: dict[str, Any], value: Any) -> str | None:
    kind = column["type"]
    if kind in ("String", "Memo"):
        return None if isinstance(value, str) and len(value) <= column.get("maxLength", 10**9) else \
            f"a string of at most {column.get('maxLength')} characters"
    if kind in ("Money", "Decimal"):
        return None if isinstance(value, Decimal) else "an Edm.Decimal number"
    if kind == "Integer":
        return None if isinstance(value, Decimal) and value == value.to_integral_value() else "an Edm.Int32"
    if kind == "Boolean":
        return None if isinstance(value, bool) else "an Edm.Boolean"
    if kind == "DateTime" and column["dateTimeBehavior"] == "DateOnly":
        return None if isinstance(value, str) and _DATE.fullmatch(value) else "an Edm.Date (yyyy-mm-dd)"
    if kind == "DateTime":
        return None if isinstance(value, str) and _DATETIME.fullmatch(value) else "an Edm.DateTimeOffset"
    return f"set through its navigation property (type {kind})"


def validate(table: str, body: Any) -> list[str]:
    """What the Dataverse column metadata of *table* refuses in the create body *body* (numbers as Decimal)."""
    spec = _tables()[table]
    if not isinstance(body, dict):
        return [f"{table}: the request body is not an entity"]
    problems = []
    for key, value in body.items():
        if key.endswith("@odata.bind"):
            if key[: -len("@odata.bind")] not in spec["navigation"]:
                problems.append(f"{table}: '{key}' is not a navigation property of {table}")
        elif key in spec["collections"]:
            items = value if isinstance(value, list) else [None]
            problems += [f"{table}.{key}[{i}]: {p}" for i, item in enumerate(items)
                         for p in validate(spec["collections"][key], item)]
        elif key not in spec["writable"]:
            problems.append(f"{table}: Could not find a property named '{key}' on type 'Microsoft.Dynamics.CRM.{table}'")
        elif key in spec["attributes"]:
            column = spec["attributes"][key]
            if column.get("isValidForCreate") is False:
                problems.append(f"{table}: '{key}' is not valid for create")
            elif (expected := _value_problem(column, value)) is not None:
                problems.append(f"{table}: Cannot convert the literal '{value}' of '{key}' to the expected type: {expected}")
        else:
            problems.append(f"{table}: column '{key}' is writable but its metadata is not in the trimmed reference")
    return problems


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
        problem = "; ".join(validate("invoice", body)) or _rules(body)
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
        self.booked[invoice_id] = Booked("invoice", stored["totalamount"], stored["totaltax"])
        return Reply(204, b"", {"OData-EntityId": f"{self.url}{API}/invoices({invoice_id})"})


def _rules(body: dict[str, Any]) -> str | None:
    """The org's rules beyond the column types: known customer and currency, write-in products."""
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
