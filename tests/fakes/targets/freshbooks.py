"""FreshBooks accounting API stand-in: invoices, credit notes and payments per account, ``search[…]`` filters,
token refresh.

Request bodies are checked by `validate` against FreshBooks' documented field lists
(tests/fakes/specs/freshbooks_accounting_fields.json: JSON Schema, no undeclared field). Arithmetic:
a line is qty × unit cost; a tax (name and percentage) is computed on the sum of the lines that
carry it and rounded half-up (FreshBooks does not document its rounding [U]). A payment of type
``Credit`` naming a credit note (``creditid``) applies it to the invoice: no more than the invoice's
outstanding amount or the credit note's remaining credit. Success bodies are
``{"response": {"result": {...}}}``; errors are ``{"response": {"errors": [{"message", "errno", "field",
"object", "value"}]}}`` as FreshBooks answers.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer, dec_json, out

__all__ = ["FakeFreshBooks", "make_fake", "validate", "ACCOUNT", "CLIENT", "ID_MAP", "errors"]

ACCOUNT = "xZNQ1X"
CLIENT = 81234
SPEC = Path(__file__).resolve().parent.parent / "specs" / "freshbooks_accounting_fields.json"
ID_MAP = json.dumps({"customer:*": str(CLIENT), "tax:S:19": "MwSt", "tax:S:7": "MwSt 7", "tax:S:4": "VAT 4",
                     "tax:S:6.25": "Sales Tax TX", "tax:S:6.5": "Sales Tax", "tax:S:7.25": "Sales Tax CA"})
_ERRNO = {400: 1001, 401: 1003, 403: 1003, 404: 1012, 422: 2001, 429: 1010, 500: 1000, 503: 1000}


def errors(message: str, errno: int, field: str | None = None, value: Any = None, obj: str = "invoice") -> dict[str, Any]:
    return {"response": {"errors": [{"message": message, "errno": errno, "field": field, "object": obj, "value": value}]}}


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


@lru_cache(maxsize=None)
def _validator(request: str) -> jsonschema.Draft4Validator:
    doc = _closed(json.loads(SPEC.read_text()))
    return jsonschema.Draft4Validator({**doc["requests"][request], "definitions": doc["definitions"]})


def validate(request: str, body: Any) -> list[str]:
    """What FreshBooks' documented fields for *request* (invoice, credit_note, payment) refuse in *body*."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in sorted(_validator(request).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))]


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def _money(value: Decimal, code: str) -> dict[str, str]:
    return {"amount": f"{_q(value):f}", "code": code}


class FakeFreshBooks(FakeTarget):
    target = "freshbooks"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token")
        self.invoices: dict[int, dict[str, Any]] = {}
        self.credit_notes: dict[int, dict[str, Any]] = {}
        self.payments: dict[int, dict[str, Any]] = {}
        self.next_id = 731000

    def env(self) -> dict[str, str]:
        p = "INVOICING_FRESHBOOKS_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "cid", p + "CLIENT_SECRET": SECRET,
                p + "REFRESH_TOKEN": REFRESH, p + "TENANT": ACCOUNT, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return errors(f"Injected HTTP {status}.", _ERRNO.get(status, 1000))

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @staticmethod
    def _result(**result: Any) -> Reply:
        return Reply(200, {"response": {"result": out(result)}})

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/auth/oauth/token":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, errors("This action requires authentication to continue.", 1003))
        m = re.fullmatch(rf"/accounting/account/{ACCOUNT}/(invoices/invoices|credit_notes/credit_notes|payments/payments)(?:/(\d+))?",
                         req.path)
        if not m:
            return Reply(404, errors("The requested resource was not found.", 1012))
        resource, ident = m.group(1).split("/")[0], m.group(2)
        if req.method == "GET" and ident:
            doc = self.invoices.get(int(ident)) if resource == "invoices" else None
            return self._result(invoice=doc) if doc else Reply(404, errors("The requested resource was not found.", 1012))
        if req.method == "GET":
            field, pool, key = {"invoices": ("invoice_number", self.invoices, "invoices"),
                                "credit_notes": ("credit_number", self.credit_notes, "credit_notes"),
                                "payments": ("invoiceid", self.payments, "payments")}[resource]
            wanted = req.query.get(f"search[{field}]")
            found = [d for d in pool.values() if wanted is None or str(d[field]) == wanted]
            return self._result(**{key: found, "page": 1, "pages": 1, "per_page": 15, "total": len(found)})
        if req.method != "POST":
            return Reply(405, errors("Method not allowed.", 1001))
        try:
            doc = dec_json(req)
            problems = validate({"invoices": "invoice", "credit_notes": "credit_note", "payments": "payment"}[resource],
                                json.loads(req.body))
        except ValueError:
            return Reply(400, errors("Invalid JSON.", 1001))
        if problems:
            return Reply(422, errors("; ".join(problems), 2001, None, None, resource.rstrip("s")))
        if resource == "payments":
            return self._payment(doc["payment"])
        return self._document(doc["credit_note"] if resource == "credit_notes" else doc["invoice"], resource == "credit_notes")

    def _document(self, doc: dict[str, Any], credit: bool) -> Reply:
        client = doc.get("clientid" if credit else "customerid")
        if client != CLIENT:
            return Reply(422, errors("Client not found.", 1012, "clientid" if credit else "customerid"))
        code = doc.get("currency_code", "USD")
        if any(ln["unit_cost"].get("code", code) != code for ln in doc["lines"]):
            return Reply(422, errors("unit_cost.code must be the document currency.", 2001, "unit_cost"))
        sub, taxable = Decimal(0), {}
        for ln in doc["lines"]:
            amount = _q(Decimal(ln["unit_cost"]["amount"]) * ln["qty"])
            sub += amount
            if ln.get("taxAmount1"):
                key = (ln.get("taxName1"), Decimal(ln["taxAmount1"]))
                taxable[key] = taxable.get(key, Decimal(0)) + amount
        tax = sum((_q(amount * rate / 100) for (_, rate), amount in taxable.items()), Decimal(0))
        ident = self._new_id()
        if credit:
            stored = {**doc, "id": ident, "creditid": ident, "amount": _money(sub + tax, code),
                      "paid": _money(Decimal(0), code), "status": "created"}
            self.credit_notes[ident] = stored
        else:
            stored = {**doc, "id": ident, "invoiceid": ident, "accounting_systemid": ACCOUNT, "status": 1, "v3_status": "draft",
                      "amount": _money(sub + tax, code), "outstanding": _money(sub + tax, code)}
            self.invoices[ident] = self.created[str(ident)] = stored
        self.booked[str(ident)] = Booked("credit_note" if credit else "invoice", sub + tax, tax)
        return self._result(**{"credit_note" if credit else "invoice": stored})

    def _payment(self, payment: dict[str, Any]) -> Reply:
        invoice = self.invoices.get(payment["invoiceid"])
        credit = self.credit_notes.get(payment.get("creditid", -1))
        amount = Decimal(payment["amount"]["amount"])
        if invoice is None:
            return Reply(422, errors("Invoice not found.", 1012, "invoiceid", obj="payment"))
        if payment["type"] == "Credit" and (credit is None or credit["clientid"] != invoice["customerid"]):
            return Reply(422, errors("A Credit payment names a credit of the invoice's client.", 2001, "creditid", obj="payment"))
        remaining = Decimal(credit["amount"]["amount"]) - Decimal(credit["paid"]["amount"]) if credit else amount
        if not 0 < amount <= min(Decimal(invoice["outstanding"]["amount"]), remaining):
            return Reply(422, errors("Amount exceeds what is outstanding.", 2001, "amount", obj="payment"))
        ident = self._new_id()
        code = invoice["outstanding"]["code"]
        invoice["outstanding"] = _money(Decimal(invoice["outstanding"]["amount"]) - amount, code)
        if credit is not None:
            credit["paid"] = _money(Decimal(credit["paid"]["amount"]) + amount, code)
            self.booked[str(credit["id"])].linked_to = str(invoice["id"])
        self.payments[ident] = {**payment, "id": ident, "logid": ident, "from_credit": credit is not None,
                                "amount": _money(amount, code)}
        return self._result(payment=self.payments[ident])


def make_fake() -> FakeFreshBooks:
    return FakeFreshBooks()
