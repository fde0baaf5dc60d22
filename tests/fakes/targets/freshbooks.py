"""FreshBooks accounting API stand-in: invoices per account, ``search[invoice_number]``, token refresh.

Success bodies are ``{"response": {"result": {...}}}``; errors are
``{"response": {"errors": [{"message", "errno", "field", "object", "value"}]}}`` as FreshBooks answers.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer, dec_json, out

ACCOUNT = "xZNQ1X"
CLIENT = 81234
ID_MAP = f'{{"customer:*": "{CLIENT}", "tax:S:19": "MwSt"}}'
_ERRNO = {400: 1001, 401: 1003, 403: 1003, 404: 1012, 422: 2001, 429: 1010, 500: 1000, 503: 1000}
_DEC = re.compile(r"^-?\d+(\.\d+)?$")


def errors(message: str, errno: int, field: str | None = None, value: Any = None) -> dict[str, Any]:
    return {"response": {"errors": [{"message": message, "errno": errno, "field": field, "object": "invoice",
                                     "value": value}]}}


class FakeFreshBooks(FakeTarget):
    target = "freshbooks"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token")
        self.invoices: dict[int, dict[str, Any]] = {}
        self.next_id = 731000

    def env(self) -> dict[str, str]:
        p = "INVOICING_FRESHBOOKS_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "cid", p + "CLIENT_SECRET": SECRET,
                p + "REFRESH_TOKEN": REFRESH, p + "TENANT": ACCOUNT, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return errors(f"Injected HTTP {status}.", _ERRNO.get(status, 1000))

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/auth/oauth/token":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, errors("This action requires authentication to continue.", 1003))
        if req.path != f"/accounting/account/{ACCOUNT}/invoices/invoices":
            return Reply(404, errors("The requested resource was not found.", 1012))
        if req.method == "GET":
            number = req.query.get("search[invoice_number]")
            found = [out(i) for i in self.invoices.values() if number is None or i["invoice_number"] == number]
            return Reply(200, {"response": {"result": {"invoices": found, "page": 1, "pages": 1, "per_page": 15,
                                                       "total": len(found)}}})
        if req.method == "POST":
            return self.create(req)
        return Reply(405, errors("Method not allowed.", 1001))

    def create(self, req: Req) -> Reply:
        doc = dec_json(req)
        inv = doc.get("invoice") if isinstance(doc, dict) else None
        if not isinstance(inv, dict):
            return Reply(400, errors("Missing invoice object.", 1001, "invoice"))
        error = validate(inv)
        if error:
            return Reply(422, errors(*error))
        total = Decimal(0)
        for ln in inv["lines"]:
            amount = (Decimal(ln["unit_cost"]["amount"]) * ln["qty"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
            tax = (amount * Decimal(ln.get("taxAmount1", "0")) / 100)
            total += amount + tax
        self.next_id += 1
        stored = {**inv, "id": self.next_id, "invoiceid": self.next_id, "accounting_systemid": ACCOUNT,
                  "status": 1, "v3_status": "draft",
                  "amount": {"amount": str(total.quantize(Decimal("0.01"), ROUND_HALF_UP)), "code": inv["currency_code"]}}
        self.invoices[self.next_id] = stored
        self.created[str(self.next_id)] = stored
        return Reply(200, {"response": {"result": {"invoice": out(stored)}}})


def validate(inv: dict[str, Any]) -> tuple[str, int, str] | None:
    """The create-invoice fields we use, with FreshBooks' types (unit_cost.amount is a decimal string)."""
    if inv.get("customerid") != CLIENT:
        return "Client not found.", 1012, "customerid"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(inv.get("create_date", ""))):
        return "create_date is required (YYYY-MM-DD).", 2001, "create_date"
    if not re.fullmatch(r"[A-Z]{3}", str(inv.get("currency_code", ""))):
        return "Invalid currency code.", 2001, "currency_code"
    if not isinstance(inv.get("invoice_number"), str) or len(inv["invoice_number"]) > 30:
        return "invoice_number must be a string of at most 30 characters.", 2001, "invoice_number"
    lines = inv.get("lines")
    if not isinstance(lines, list) or not lines:
        return "An invoice needs lines.", 2001, "lines"
    for ln in lines:
        cost = ln.get("unit_cost") or {}
        if not isinstance(cost.get("amount"), str) or not _DEC.match(cost["amount"]) or cost.get("code") != inv["currency_code"]:
            return "unit_cost.amount must be a decimal string in the invoice currency.", 2001, "unit_cost"
        if ln.get("type") != 0 or not ln.get("name"):
            return "Line type and name are required.", 2001, "lines"
        if "taxAmount1" in ln and (not ln.get("taxName1") or not _DEC.match(str(ln["taxAmount1"]))):
            return "taxName1 and a percent taxAmount1 go together.", 2001, "taxAmount1"
        try:
            ln["qty"] = Decimal(str(ln["qty"]))
        except Exception:  # noqa: BLE001
            return "qty must be a number.", 2001, "qty"
    return None


def make_fake() -> FakeFreshBooks:
    return FakeFreshBooks()
