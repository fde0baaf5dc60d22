"""Stripe stand-in: customers, tax rates, invoices (add_lines, finalize, send, delete, search), credit notes.

localstripe (PyPI, stateful emulator) was tried first: it installs and runs on
Python 3.11, but it models an old API version: no ``/finalize``, ``/send`` or
``/search``, no ``Idempotency-Key`` handling, and ``POST /v1/invoices`` rejects
``collection_method`` / ``days_until_due`` ("Unexpected ..."). So this fake
checks every form body and query string against the parameter models of the official SDK
(stripe-python's ``stripe.params.*Params`` TypedDicts, generated from stripe/openapi
``spec3.json``; `MODELS` maps each route to its model): unknown parameter →
``parameter_unknown``, a missing required one → ``parameter_missing``, integers, numbers and
booleans checked, nested objects recursed. Errors use Stripe's ``{"error": {type, code, message, param}}``.
Idempotency follows Stripe: a key replays the first successful answer
(``Idempotent-Replayed: true``); reusing it with other parameters → ``idempotency_error``.

Tax as Stripe computes it: an exclusive tax rate's tax per line item, rounded half-up to the minor
unit (support.stripe.com rounding rules [S]); manual ``tax_amounts`` taken as given, and never
together with ``tax_rates`` on one invoice (the SDK's documented rule). ``booked`` holds every
finalized invoice and issued credit note with the totals computed that way.
"""
from __future__ import annotations

import itertools
import re
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl

import stripe.params as sp

from domain.money import minor_units
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

__all__ = ["StripeFake", "make_fake", "API_KEY", "check_params", "MODELS", "model_for", "tree"]

API_KEY = "sk_test_51FakeKeyDoNotLog0000000000000000"
_SDK_ONLY = {"api_key", "stripe_version", "stripe_account", "stripe_context", "max_network_retries",
             "idempotency_key", "content_type", "headers"}
_ID = r"[a-z]+_\w+"
#: (method, path pattern) → the stripe-python params model its form body or query string must match
MODELS: list[tuple[str, str, str]] = [
    ("GET", r"/v1/customers/search", "CustomerSearchParams"), ("POST", r"/v1/customers", "CustomerCreateParams"),
    ("GET", r"/v1/tax_rates", "TaxRateListParams"), ("POST", r"/v1/tax_rates", "TaxRateCreateParams"),
    ("GET", r"/v1/invoices/search", "InvoiceSearchParams"), ("POST", r"/v1/invoices", "InvoiceCreateParams"),
    ("GET", rf"/v1/invoices/{_ID}", "InvoiceRetrieveParams"), ("DELETE", rf"/v1/invoices/{_ID}", "InvoiceDeleteParams"),
    ("POST", rf"/v1/invoices/{_ID}", "InvoiceUpdateParams"), ("GET", rf"/v1/invoices/{_ID}/lines", "InvoiceListLinesParams"),
    ("POST", rf"/v1/invoices/{_ID}/add_lines", "InvoiceAddLinesParams"),
    ("POST", rf"/v1/invoices/{_ID}/finalize", "InvoiceFinalizeInvoiceParams"),
    ("POST", rf"/v1/invoices/{_ID}/send", "InvoiceSendInvoiceParams"),
    ("GET", r"/v1/credit_notes", "CreditNoteListParams"), ("POST", r"/v1/credit_notes", "CreditNoteCreateParams"),
    ("POST", rf"/v1/credit_notes/{_ID}/void", "CreditNoteVoidCreditNoteParams"),
]


def model_for(method: str, path: str) -> type | None:
    return next((getattr(sp, m) for meth, pat, m in MODELS if meth == method and re.fullmatch(pat, path)), None)


def tree(pairs: Any) -> dict[str, Any]:
    """Stripe's bracket notation (``lines[0][tax_rates][0]=…``) as nested dicts."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def check_params(params: dict[str, Any], model: type, path: str = "") -> list[tuple[str, str, str]]:
    """(code, param, message) for every way *params* departs from the SDK's params TypedDict *model*."""
    ann = {k: str(v) for k, v in model.__annotations__.items() if k not in _SDK_ONLY}
    module = sys.modules[model.__module__]
    problems = []
    for key in getattr(model, "__required_keys__", set()) - _SDK_ONLY - set(params):
        problems.append(("parameter_missing", path + key, f"Missing required param: {path}{key}."))
    for key, value in params.items():
        if key not in ann:
            problems.append(("parameter_unknown", path + key, f"Received unknown parameter: {path}{key}"))
            continue
        a = ann[key]
        subs = [getattr(module, n) for n in re.findall(r"\b([A-Z]\w*Params\w*)\b", a) if hasattr(module, n)]
        if isinstance(value, dict):
            listed = value and all(k.isdigit() for k in value) and "List[" in a
            elements = list(value.values()) if listed else [value]
            if subs:
                for i, el in enumerate(elements):
                    problems += check_params(el, subs[0], f"{path}{key}[{i}]." if listed else f"{path}{key}.")
            elif "Dict[str, str]" not in a and "List[" not in a:
                problems.append(("parameter_invalid_string", path + key, f"Invalid string: {path}{key}"))
        elif re.search(r"NotRequired\[int\]|<class 'int'>", a) and not re.fullmatch(r"-?\d+", value):
            problems.append(("parameter_invalid_integer", path + key, f"Invalid integer: {value}"))
        elif re.search(r"NotRequired\[(float|decimal\.Decimal)\]|<class '(float|decimal\.Decimal)'>", a) \
                and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            problems.append(("parameter_invalid_number", path + key, f"Invalid decimal: {value}"))
        elif re.search(r"NotRequired\[bool\]|<class 'bool'>", a) and value not in ("true", "false"):
            problems.append(("parameter_invalid_boolean", path + key, f"Invalid boolean: {value}"))
        elif subs and value != "":
            problems.append(("parameter_invalid_string", path + key, f"Invalid object: {path}{key}"))
    return problems


def _err(status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None,
         param: str | None = None) -> Reply:
    err: dict[str, Any] = {"type": kind, "message": message,
                           "request_log_url": "https://dashboard.stripe.com/test/logs/req_fake"}
    if code:
        err["code"] = code
    if param:
        err["param"] = param
    return Reply(status, {"error": err}, {"Request-Id": "req_fake"})


def _page(data: list[Any], url: str) -> Reply:
    return Reply(200, {"object": "list", "data": data, "has_more": False, "url": url})


class StripeFake(FakeTarget):
    target = "stripe"

    def __init__(self) -> None:
        super().__init__()
        self.customers: dict[str, dict[str, Any]] = {}
        self.tax_rates: dict[str, dict[str, Any]] = {}
        self.credit_notes: dict[str, dict[str, Any]] = {}
        self.sent: list[str] = []
        self.idem: dict[str, tuple[str, dict[str, Any], Reply]] = {}
        self._n = itertools.count(1)

    def env(self) -> dict[str, str]:
        return {"INVOICING_STRIPE_BASE_URL": self.url, "INVOICING_STRIPE_API_KEY": API_KEY}

    def error_body(self, status: int) -> Any:
        if status == 401:
            return _err(401, f"Invalid API Key provided: sk_test_****{API_KEY[-4:]}").body
        if status == 429:
            return _err(429, "Request rate limit exceeded.", code="rate_limit").body
        if status >= 500:
            return _err(status, "An unknown error occurred", kind="api_error").body
        if status == 403:
            return _err(403, "The provided key does not have the required permissions for this endpoint.").body
        return _err(status, "Invalid request (injected)", code="parameter_invalid_empty").body

    def _id(self, prefix: str) -> str:
        return f"{prefix}_Fake{next(self._n):08d}"

    def handle(self, req: Req) -> Reply:
        if req.headers.get("authorization") != f"Bearer {API_KEY}":
            return Reply(401, self.error_body(401))
        model = model_for(req.method, req.path)
        if model is None:
            return _err(404, f"Unrecognized request URL ({req.method}: {req.path}).")
        params = tree(parse_qsl(req.body.decode(), keep_blank_values=True)) if req.method == "POST" else tree(req.query.items())
        problems = check_params(params, model)
        if problems:
            code, param, message = problems[0]
            return _err(400, message, code=code, param=param)
        key = req.headers.get("idempotency-key")
        if req.method == "POST" and key:
            if key in self.idem:
                path, first, reply = self.idem[key]
                if (path, first) != (req.path, params):
                    return _err(400, "Keys for idempotent requests can only be used with the same parameters they "
                                     "were first used with. Try using a key other than '" + key + "'.", kind="idempotency_error")
                return Reply(reply.status, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})
            reply = self._route(req.method, req.path, params)
            if reply.status == 200:
                self.idem[key] = (req.path, params, reply)
            return reply
        return self._route(req.method, req.path, params)

    def _route(self, m: str, path: str, p: dict[str, Any]) -> Reply:
        if path in ("/v1/customers/search", "/v1/invoices/search"):
            return self._search(p.get("query", ""), self.customers if "customers" in path else self.created)
        if path == "/v1/customers":
            cid = self._id("cus")
            self.customers[cid] = {"id": cid, "object": "customer", "email": p.get("email"), "name": p.get("name"),
                                   "address": p.get("address"), "metadata": p.get("metadata", {})}
            return Reply(200, self.customers[cid])
        if path == "/v1/tax_rates":
            return self._list_rates(p) if m == "GET" else self._new_rate(p)
        if path == "/v1/invoices":
            return self._new_invoice(p)
        if path == "/v1/credit_notes":
            if m == "GET":
                return _page([c for c in self.credit_notes.values() if c["invoice"] == p.get("invoice")], path)
            return self._new_credit_note(p)
        hit = re.fullmatch(r"/v1/(invoices|credit_notes)/(\w+)(?:/(\w+))?", path)
        assert hit, path
        pool = self.created if hit.group(1) == "invoices" else self.credit_notes
        doc = pool.get(hit.group(2))
        if doc is None:
            return _err(404, f"No such {hit.group(1)[:-1]}: '{hit.group(2)}'", code="resource_missing", param="id")
        return self._act(m, doc, hit.group(3), p)

    def _search(self, query: str, pool: dict[str, dict[str, Any]]) -> Reply:
        q = re.fullmatch(r"metadata\['(\w+)'\]:'((?:[^'\\]|\\.)*)'", query)
        if not q:
            return _err(400, f"Invalid search query: {query}", code="parameter_invalid_string", param="query")
        value = re.sub(r"\\(.)", r"\1", q.group(2))
        data = [o for o in pool.values() if o["metadata"].get(q.group(1)) == value]
        return Reply(200, {"object": "search_result", "data": data, "has_more": False, "next_page": None})

    def _list_rates(self, p: dict[str, Any]) -> Reply:
        rates = [r for r in self.tax_rates.values()
                 if p.get("active") in (None, str(r["active"]).lower()) and p.get("inclusive") in (None, str(r["inclusive"]).lower())]
        if p.get("starting_after"):
            ids = [r["id"] for r in rates]
            rates = rates[ids.index(p["starting_after"]) + 1:] if p["starting_after"] in ids else []
        limit = int(p.get("limit", 10))
        return Reply(200, {"object": "list", "data": rates[:limit], "has_more": len(rates) > limit, "url": "/v1/tax_rates"})

    def _new_rate(self, p: dict[str, Any]) -> Reply:
        rid = self._id("txr")
        self.tax_rates[rid] = {"id": rid, "object": "tax_rate", "active": p.get("active", "true") == "true",
                               "inclusive": p["inclusive"] == "true", "percentage": float(p["percentage"]),
                               "display_name": p["display_name"], "tax_type": p.get("tax_type"),
                               "description": p.get("description"), "metadata": p.get("metadata", {})}
        return Reply(200, self.tax_rates[rid])

    def _new_invoice(self, p: dict[str, Any]) -> Reply:
        if p.get("customer") not in self.customers:
            return _err(400, f"No such customer: '{p.get('customer')}'", code="resource_missing", param="customer")
        if p.get("collection_method") == "send_invoice" and "days_until_due" not in p and "due_date" not in p:
            return _err(400, "Missing required param: days_until_due.", code="parameter_missing", param="days_until_due")
        if p.get("number") and any(i["number"] == p["number"] for i in self.created.values()):
            return _err(400, "Invoice number must be unique.", code="invoice_duplicate_number", param="number")
        iid = self._id("in")
        self.created[iid] = {"id": iid, "object": "invoice", "status": "draft", "customer": p["customer"],
                             "currency": p.get("currency", "usd"), "number": p.get("number"),
                             "collection_method": p.get("collection_method", "charge_automatically"),
                             "metadata": p.get("metadata", {}), "subtotal": 0, "total": 0, "total_taxes": [],
                             "amount_due": 0, "amount_remaining": 0, "hosted_invoice_url": None,
                             "lines": {"object": "list", "data": []}, "created": int(time.time())}
        return Reply(200, self.created[iid])

    def _line_tax(self, line: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        """Stripe's tax for one line: per exclusive rate, amount × percentage rounded half-up; manual amounts as given."""
        taxes = []
        for rid in (line.get("tax_rates") or {}).values():
            rate = self.tax_rates[rid]
            amount = int((Decimal(line["amount"]) * Decimal(str(rate["percentage"])) / 100).quantize(Decimal(1), ROUND_HALF_UP))
            taxes.append({"amount": amount, "tax_behavior": "exclusive", "taxable_amount": line["amount"],
                          "tax_rate_details": {"tax_rate": rid}, "type": "tax_rate_details"})
        for t in (line.get("tax_amounts") or {}).values():
            taxes.append({"amount": int(t["amount"]), "tax_behavior": "exclusive", "taxable_amount": int(t["taxable_amount"]),
                          "tax_rate_details": {"tax_rate": "txr_auto_" + t["tax_rate_data"]["percentage"]}, "type": "tax_rate_details"})
        return sum(t["amount"] for t in taxes), taxes

    def _add_lines(self, inv: dict[str, Any], p: dict[str, Any]) -> Reply:
        if inv["status"] != "draft":
            return _err(400, "You can only add lines to a draft invoice.", code="invoice_not_editable")
        new = list(p["lines"].values())
        lines = inv["lines"]["data"] + new
        if any(ln.get("tax_rates") for ln in lines) and any(ln.get("tax_amounts") for ln in lines):
            return _err(400, "You cannot set tax amounts if any line item has tax_rates.", param="lines")
        for ln in new:
            if "amount" not in ln:
                return _err(400, "Missing required param: lines[0][amount].", code="parameter_missing", param="amount")
            if any(r not in self.tax_rates or not self.tax_rates[r]["active"] for r in (ln.get("tax_rates") or {}).values()):
                return _err(400, "No such active tax rate", code="resource_missing", param="tax_rates")
            tax, taxes = self._line_tax({**ln, "amount": int(ln["amount"])})
            inv["lines"]["data"].append({"id": self._id("il"), "object": "line_item", "amount": int(ln["amount"]),
                                         "description": ln.get("description"), "metadata": ln.get("metadata", {}),
                                         "tax_rates": ln.get("tax_rates"), "tax_amounts": ln.get("tax_amounts"),
                                         "taxes": taxes, "tax": tax})
        inv["subtotal"] = sum(ln["amount"] for ln in inv["lines"]["data"])
        tax = sum(ln["tax"] for ln in inv["lines"]["data"])
        inv["total_taxes"] = [t for ln in inv["lines"]["data"] for t in ln["taxes"]]
        inv["total"] = inv["amount_due"] = inv["amount_remaining"] = inv["subtotal"] + tax
        return Reply(200, inv)

    def _major(self, minor: int, currency: str) -> Decimal:
        return Decimal(minor).scaleb(-minor_units(currency.upper()))

    def _act(self, m: str, doc: dict[str, Any], action: str | None, p: dict[str, Any]) -> Reply:
        if doc["object"] == "credit_note":  # void
            doc["status"] = "void"
            self.booked.pop(doc["id"], None)
            return Reply(200, doc)
        if m == "GET":
            return _page(doc["lines"]["data"], f"/v1/invoices/{doc['id']}/lines") if action == "lines" else Reply(200, doc)
        if m == "DELETE":
            if doc["status"] != "draft":
                return _err(400, "You can only delete draft invoices.", code="invoice_not_editable")
            del self.created[doc["id"]]
            return Reply(200, {"id": doc["id"], "object": "invoice", "deleted": True})
        if action == "add_lines":
            return self._add_lines(doc, p)
        if action is None:
            doc["metadata"].update(p.get("metadata", {}))
        elif action == "finalize":
            if doc["status"] != "draft":
                return _err(400, "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                            code="invoice_not_editable")
            doc.update(status="open", hosted_invoice_url=f"https://invoice.stripe.com/i/{doc['id']}")
            tax = sum(t["amount"] for t in doc["total_taxes"])
            self.booked[doc["id"]] = Booked("invoice", self._major(doc["total"], doc["currency"]), self._major(tax, doc["currency"]))
        else:
            if doc["collection_method"] != "send_invoice" or doc["status"] != "open":
                return _err(400, "You can only manually send an invoice if its collection method is 'send_invoice' "
                                 "and it is finalized.", code="invoice_not_editable")
            if not self.customers[doc["customer"]].get("email"):
                return _err(400, "The customer has no email address.", code="customer_email_missing")
            self.sent.append(doc["id"])
        return Reply(200, doc)

    def _new_credit_note(self, p: dict[str, Any]) -> Reply:
        inv = self.created.get(p["invoice"])
        if inv is None or inv["status"] not in ("open", "paid"):
            return _err(400, "Credit notes can only be issued on finalized invoices.", param="invoice")
        subtotal = tax = 0
        for ln in (p.get("lines") or {}).values():
            if ln.get("type") != "custom_line_item" or "unit_amount" not in ln:
                return _err(400, "The fake books custom_line_item lines with unit_amount only.", param="lines")
            amount = int(ln["unit_amount"]) * int(ln.get("quantity", "1"))
            line_tax, _ = self._line_tax({"amount": amount, "tax_rates": ln.get("tax_rates")})
            subtotal, tax = subtotal + amount, tax + line_tax
        total = subtotal + tax
        settled = sum(int(p.get(k, "0")) for k in ("credit_amount", "refund_amount", "out_of_band_amount"))
        if inv["status"] == "paid" and settled != total:
            return _err(400, "The sum of credit amount, refund amount and out of band amount must equal the credit note amount.")
        if inv["status"] == "open" and total > inv["amount_remaining"]:
            return _err(400, "The credit note total exceeds the invoice's amount remaining.", param="lines")
        inv["amount_remaining"] -= 0 if inv["status"] == "paid" else total
        cid = self._id("cn")
        self.credit_notes[cid] = {"id": cid, "object": "credit_note", "invoice": inv["id"], "status": "issued",
                                  "subtotal": subtotal, "total": total, "currency": inv["currency"], "memo": p.get("memo"),
                                  "metadata": p.get("metadata", {}), "pdf": f"https://pay.stripe.com/credit_notes/{cid}/pdf"}
        self.booked[cid] = Booked("credit_note", self._major(total, inv["currency"]), self._major(tax, inv["currency"]),
                                  linked_to=inv["id"])
        return Reply(200, self.credit_notes[cid])


def make_fake() -> StripeFake:
    return StripeFake()
