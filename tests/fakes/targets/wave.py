"""Wave stand-in: a real GraphQL server (graphql-core) over a subset of Wave's public schema.

The sink's documents are parsed, validated and executed against the SDL in
tests/fakes/specs/wave_public.trimmed.graphql (its header names the sources: Wave publishes no
schema file), so a misspelt field, argument or input-object key, a missing non-null argument (such
as ``sort``) or a wrongly typed variable fails exactly as on Wave (``errors[].message`` +
``extensions.code``). Business rules: validation failures are HTTP 200 with ``didSucceed: false``;
taxes are computed per item from the sales tax's rate, half-up to the currency's decimals [U: Wave's
rounding]; an item without ``taxes`` gets the product's default sales tax (19 % here), as Wave
documents. ``booked`` holds every created invoice.
"""
from __future__ import annotations

import base64
import itertools
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync

from domain.money import amount_places
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer

__all__ = ["WaveFake", "make_fake", "BUSINESS", "PRODUCT", "SALES_TAX", "SALES_TAXES", "SCHEMA"]

BUSINESS = "QnVzaW5lc3M6ZmFrZS1idXNpbmVzcw=="
PRODUCT = "QnVzaW5lc3M6ZmFrZTtQcm9kdWN0OjE="
SALES_TAX = "QnVzaW5lc3M6ZmFrZTtTYWxlc1RheDoxOQ=="
#: the business's sales taxes: one per non-zero rate the demo reference data can produce
SALES_TAXES = {"S:19": SALES_TAX, "S:4": "U2FsZXNUYXg6NA==", "S:6.25": "U2FsZXNUYXg6Ni4yNQ==",
               "S:6.5": "U2FsZXNUYXg6Ni41", "S:7.25": "U2FsZXNUYXg6Ny4yNQ=="}
CLIENT_ID = "wave-client"

SDL = (Path(__file__).resolve().parent.parent / "specs" / "wave_public.trimmed.graphql").read_text()
SCHEMA = build_schema(SDL)


def _page(nodes: list[Any]) -> dict[str, Any]:
    return {"edges": [{"node": n} for n in nodes], "pageInfo": {"currentPage": 1, "totalPages": 1, "totalCount": len(nodes)}}


def _dec(value: Any, path: list[str], errors: list[dict[str, Any]]) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, float) else Decimal("x")
    except InvalidOperation:
        errors.append({"message": "is not a valid decimal", "code": "INVALID", "path": path})
        return Decimal(0)


class WaveFake(FakeTarget):
    target = "wave"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, SECRET, REFRESH)
        self.customers: dict[str, dict[str, Any]] = {}
        self.tax_rates = {tid: Decimal(key.split(":")[1]) for key, tid in SALES_TAXES.items()}
        self._n = itertools.count(1)

    def env(self) -> dict[str, str]:
        p = "INVOICING_WAVE_"
        return {p + "BASE_URL": f"{self.url}/graphql/public", p + "TOKEN_URL": f"{self.url}/oauth2/token/",
                p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH,
                p + "TENANT": BUSINESS, p + "PRODUCT_ID": PRODUCT, p + "SALES_TAXES": json.dumps(SALES_TAXES)}

    def error_body(self, status: int) -> Any:
        code = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 429: "RATE_LIMITED"}.get(
            status, "INTERNAL_SERVER_ERROR" if status >= 500 else "BAD_USER_INPUT")
        return {"errors": [{"message": f"HTTP {status}", "extensions": {"code": code}}]}

    def _id(self, kind: str) -> str:
        return base64.b64encode(f"Business:fake;{kind}:{next(self._n)}".encode()).decode()

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth2/token/" and req.method == "POST":
            return self.tokens.issue(req)
        if req.path != "/graphql/public" or req.method != "POST":
            return Reply(404, {"errors": [{"message": "Not found"}]})
        if not self.tokens.authorised(req):
            return Reply(401, {"errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}]})
        try:
            body = req.json()
        except ValueError:
            return Reply(400, {"errors": [{"message": "Body is not JSON", "extensions": {"code": "BAD_REQUEST"}}]})
        result = graphql_sync(SCHEMA, body.get("query", ""), root_value=self, variable_values=body.get("variables"),
                              operation_name=body.get("operationName"))
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [dict(e.formatted, extensions={"code": "GRAPHQL_VALIDATION_FAILED"}) for e in result.errors]
        return Reply(200, out)

    # -- resolvers (graphql-core calls root attributes with (info, **args)) --------------
    def business(self, info: Any, id: str) -> dict[str, Any] | None:
        if id != BUSINESS:
            raise GraphQLError("Business not found", extensions={"code": "NOT_FOUND"})

        def invoices(info: Any, invoiceNumber: str | None = None, **_: Any) -> dict[str, Any]:
            return _page([i for i in self.created.values() if invoiceNumber in (None, i["invoiceNumber"])])

        def customers(info: Any, email: str | None = None, **_: Any) -> dict[str, Any]:
            return _page([c for c in self.customers.values() if email in (None, c["email"])])

        return {"id": BUSINESS, "invoices": invoices, "customers": customers}

    def customerCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        if input["businessId"] != BUSINESS:
            return {"didSucceed": False, "inputErrors": [{"message": "Business not found", "code": "NOT_FOUND", "path": ["businessId"]}]}
        cid = self._id("Customer")
        self.customers[cid] = {"id": cid, "name": input["name"], "email": input.get("email")}
        return {"didSucceed": True, "inputErrors": [], "customer": self.customers[cid]}

    def invoiceDelete(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self.booked.pop(input["invoiceId"], None)
        if self.created.pop(input["invoiceId"], None) is None:
            return {"didSucceed": False, "inputErrors": [{"message": "Invoice not found", "code": "NOT_FOUND", "path": ["invoiceId"]}]}
        return {"didSucceed": True, "inputErrors": []}

    def invoiceCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        if input["businessId"] != BUSINESS:
            errors.append({"message": "Business not found", "code": "NOT_FOUND", "path": ["input", "businessId"]})
        if input["customerId"] not in self.customers:
            errors.append({"message": "Customer not found", "code": "NOT_FOUND", "path": ["input", "customerId"]})
        if any(i["invoiceNumber"] == input.get("invoiceNumber") for i in self.created.values()):
            errors.append({"message": "Invoice number is already in use", "code": "DUPLICATE", "path": ["input", "invoiceNumber"]})
        subtotal = tax = Decimal(0)
        cent = amount_places(input.get("currency") or "USD")
        for n, item in enumerate(input.get("items") or []):
            path = ["input", "items", str(n)]
            if item["productId"] != PRODUCT:
                errors.append({"message": "Product not found", "code": "NOT_FOUND", "path": path + ["productId"]})
            amount = (_dec(item.get("quantity"), path + ["quantity"], errors)
                      * _dec(item.get("unitPrice"), path + ["unitPrice"], errors)).quantize(cent, ROUND_HALF_UP)
            subtotal += amount
            taxes = item.get("taxes") if item.get("taxes") is not None else [{"salesTaxId": SALES_TAX}]  # product default
            for t in taxes:
                if t["salesTaxId"] not in self.tax_rates:
                    errors.append({"message": "Sales tax not found", "code": "NOT_FOUND", "path": path + ["taxes"]})
                    continue
                tax += (amount * self.tax_rates[t["salesTaxId"]] / 100).quantize(cent, ROUND_HALF_UP)
        if not input.get("items"):
            errors.append({"message": "An invoice needs at least one item", "code": "REQUIRED", "path": ["input", "items"]})
        if errors:
            return {"didSucceed": False, "inputErrors": errors, "invoice": None}
        iid = self._id("Invoice")
        cur = {"code": input.get("currency") or "USD"}
        self.created[iid] = {
            "id": iid, "invoiceNumber": input.get("invoiceNumber") or str(len(self.created) + 1),
            "status": input.get("status") or "DRAFT", "viewUrl": f"https://next.waveapps.com/invoice/{iid}",
            "pdfUrl": f"https://next.waveapps.com/invoice/{iid}.pdf", "invoiceDate": input.get("invoiceDate"),
            "dueDate": input.get("dueDate"), "customer": self.customers[input["customerId"]], "memo": input.get("memo"),
            "poNumber": input.get("poNumber"), "items": input.get("items"),
            "subtotal": {"value": f"{subtotal:f}", "currency": cur}, "taxTotal": {"value": f"{tax:f}", "currency": cur},
            "total": {"value": f"{subtotal + tax:f}", "currency": cur}}
        self.booked[iid] = Booked("invoice", subtotal + tax, tax)
        return {"didSucceed": True, "inputErrors": [], "invoice": self.created[iid]}


def make_fake() -> WaveFake:
    return WaveFake()
