"""Zoho Books v3 stand-in: invoices by organization, own numbers, ``{code, message}`` envelopes, token refresh.

Every answer carries ``code`` (0 = success) and ``message``, as Zoho documents; errors keep the
envelope (``{"code": 57, "message": "You are not authorized to perform this operation"}``).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer, dec_json, out

ORG = "60012345678"
CUSTOMER = "982000000012345"
TAXES = {"982000000567001": Decimal("19"), "982000000567002": Decimal("7")}
ID_MAP = f'{{"customer:*": "{CUSTOMER}", "tax:S:19": "982000000567001", "tax:S:7": "982000000567002"}}'
_CODES = {400: 2, 401: 57, 403: 57, 404: 5, 405: 37, 422: 2, 429: 44, 500: 500, 503: 503}


class FakeZohoBooks(FakeTarget):
    target = "zoho-books"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token")
        self.invoices: dict[str, dict[str, Any]] = {}
        self.next_id = 982000000900000

    def env(self) -> dict[str, str]:
        p = "INVOICING_ZOHO_BOOKS_"
        return {p + "BASE_URL": self.url, p + "TOKEN_URL": self.url + "/oauth/v2/token", p + "CLIENT_ID": "cid",
                p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH, p + "TENANT": ORG, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return {"code": _CODES.get(status, 1), "message": f"Injected HTTP {status}."}

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/oauth/v2/token":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req, "Zoho-oauthtoken"):
            return Reply(401, {"code": 57, "message": "You are not authorized to perform this operation"})
        if req.query.get("organization_id") != ORG:
            return Reply(400, {"code": 6041, "message": "This user is not associated with the CompanyID/CompanyName:."})
        if req.path == "/books/v3/invoices" and req.method == "GET":
            number = req.query.get("invoice_number")
            found = [self._summary(i) for i in self.invoices.values() if number is None or i["invoice_number"] == number]
            return Reply(200, {"code": 0, "message": "success", "invoices": found,
                               "page_context": {"page": 1, "per_page": 200, "has_more_page": False}})
        if req.path == "/books/v3/invoices" and req.method == "POST":
            return self.create(req)
        return Reply(404, {"code": 5, "message": "Invalid URL Passed"})

    @staticmethod
    def _summary(inv: dict[str, Any]) -> dict[str, Any]:
        return {k: out(inv[k]) for k in ("invoice_id", "invoice_number", "customer_id", "status", "date", "total")}

    def create(self, req: Req) -> Reply:
        try:
            body = dec_json(req)
        except ValueError:
            return Reply(400, {"code": 4, "message": "Invalid value passed for JSONString"})
        error = validate(body)
        if error:
            return Reply(400, {"code": 2, "message": error})
        manual = req.query.get("ignore_auto_number_generation") == "true"
        number = body.get("invoice_number") if manual else f"INV-{len(self.invoices) + 1:06d}"
        if manual and not number:
            return Reply(400, {"code": 2, "message": "Invalid value passed for invoice_number"})
        if any(i["invoice_number"] == number for i in self.invoices.values()):
            return Reply(400, {"code": 1001, "message": f'Invoice "{number}" already exists.'})
        sub_total = sum((ln["rate"] * ln["quantity"] - Decimal(str(ln.get("discount", 0))) for ln in body["line_items"]),
                        Decimal(0)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        by_tax: dict[str, Decimal] = {}
        for ln in body["line_items"]:
            if ln.get("tax_id"):
                by_tax[ln["tax_id"]] = by_tax.get(ln["tax_id"], Decimal(0)) + ln["rate"] * ln["quantity"] - \
                    Decimal(str(ln.get("discount", 0)))
        tax_total = sum(((v * TAXES[k] / 100).quantize(Decimal("0.01"), ROUND_HALF_UP) for k, v in by_tax.items()),
                        Decimal(0))
        self.next_id += 1
        inv = {**body, "invoice_id": str(self.next_id), "invoice_number": number, "status": "draft",
               "sub_total": sub_total, "tax_total": tax_total, "total": sub_total + tax_total}
        self.invoices[inv["invoice_id"]] = inv
        self.created[inv["invoice_id"]] = inv
        return Reply(201, {"code": 0, "message": "The invoice has been created.", "invoice": out(inv)})


def validate(body: Any) -> str | None:
    """The fields of Zoho's create-invoice request that we use, with their documented types."""
    if not isinstance(body, dict):
        return "Invalid value passed for JSONString"
    if body.get("customer_id") != CUSTOMER:
        return "Invalid value passed for customer_id"
    for f in ("date", "due_date"):
        if f in body and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body[f])):
            return f"Invalid value passed for {f}"
    items = body.get("line_items")
    if not isinstance(items, list) or not items:
        return "Line items cannot be empty."
    for ln in items:
        if not (ln.get("item_id") or ln.get("name")):
            return "Please enter the item name or select an item."
        if not isinstance(ln.get("rate"), Decimal) or not isinstance(ln.get("quantity"), Decimal):
            return "Invalid value passed for rate/quantity"
        if ln.get("tax_id") is not None and ln["tax_id"] not in TAXES:
            return "Invalid value passed for tax_id"
    return None


def make_fake() -> FakeZohoBooks:
    return FakeZohoBooks()
