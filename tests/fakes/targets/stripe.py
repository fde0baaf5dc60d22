"""Stripe stand-in: customers, invoices, invoice items, finalize, send, search; ``Idempotency-Key`` replay.

localstripe (PyPI, stateful emulator) was tried first: it installs and runs on
Python 3.11, but it models an old API version: no ``/finalize``, ``/send`` or
``/search``, no ``Idempotency-Key`` handling, and ``POST /v1/invoices`` rejects
``collection_method`` / ``days_until_due`` ("Unexpected ..."). So this fake
checks every form body against the parameter models of the official SDK
(stripe-python's ``stripe.params.*Params`` TypedDicts, generated from
stripe/openapi ``spec3.json``): unknown parameter → ``parameter_unknown``, a
missing required one → ``parameter_missing``, integers and booleans checked,
nested objects recursed. Errors use Stripe's ``{"error": {type, code, message, param}}``.
Idempotency follows Stripe: a key replays the first successful answer
(``Idempotent-Replayed: true``); reusing it with other parameters → ``idempotency_error``.
"""
from __future__ import annotations

import itertools
import re
import sys
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import stripe.params as sp

from tests.fakes.target_base import FakeTarget, Reply, Req

__all__ = ["StripeFake", "make_fake", "API_KEY", "check_params"]

API_KEY = "sk_test_51FakeKeyDoNotLog0000000000000000"
_SDK_ONLY = {"api_key", "stripe_version", "stripe_account", "stripe_context", "max_network_retries",
             "idempotency_key", "content_type", "headers"}


def _tree(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def check_params(tree: dict[str, Any], model: type, path: str = "") -> list[tuple[str, str, str]]:
    """(code, param, message) for every way *tree* departs from the SDK's params TypedDict *model*."""
    ann = {k: str(v) for k, v in model.__annotations__.items() if k not in _SDK_ONLY}
    module = sys.modules[model.__module__]
    problems = []
    for key in getattr(model, "__required_keys__", set()) - _SDK_ONLY - set(tree):
        problems.append(("parameter_missing", path + key, f"Missing required param: {path}{key}."))
    for key, value in tree.items():
        if key not in ann:
            problems.append(("parameter_unknown", path + key, f"Received unknown parameter: {path}{key}"))
            continue
        a = ann[key]
        subs = [getattr(module, n) for n in re.findall(r"\b([A-Z]\w*Params\w*)\b", a) if hasattr(module, n)]
        if isinstance(value, dict):
            elements = list(value.values()) if value and all(k.isdigit() for k in value) and "List[" in a else [value]
            if subs:
                for i, el in enumerate(elements):
                    problems += check_params(el, subs[0], f"{path}{key}[{i}]." if len(elements) > 1 or "List[" in a else f"{path}{key}.")
            elif "Dict[str, str]" not in a and "List[" not in a:
                problems.append(("parameter_invalid_string", path + key, f"Invalid string: {path}{key}"))
        elif re.search(r"NotRequired\[int\]|<class 'int'>", a) and not re.fullmatch(r"-?\d+", value):
            problems.append(("parameter_invalid_integer", path + key, f"Invalid integer: {value}"))
        elif re.search(r"NotRequired\[bool\]|<class 'bool'>", a) and value not in ("true", "false"):
            problems.append(("parameter_invalid_boolean", path + key, f"Invalid boolean: {value}"))
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


class StripeFake(FakeTarget):
    target = "stripe"

    def __init__(self) -> None:
        super().__init__()
        self.customers: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
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
        key = req.headers.get("idempotency-key")
        params = _tree(req.body) if req.method == "POST" else {}
        if req.method == "POST" and key:
            if key in self.idem:
                path, first, reply = self.idem[key]
                if (path, first) != (req.path, params):
                    return _err(400, "Keys for idempotent requests can only be used with the same parameters they "
                                     "were first used with. Try using a key other than '" + key + "'.",
                                kind="idempotency_error")
                return Reply(reply.status, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})
            reply = self._route(req, params)
            if reply.status == 200:
                self.idem[key] = (req.path, params, reply)
            return reply
        return self._route(req, params)

    def _route(self, req: Req, params: dict[str, Any]) -> Reply:
        m, path = req.method, req.path
        if m == "GET" and path in ("/v1/customers/search", "/v1/invoices/search"):
            return self._search(req.query.get("query", ""), self.customers if "customers" in path else self.created)
        if m == "POST" and path == "/v1/customers":
            return self._checked(params, sp.CustomerCreateParams) or self._new_customer(params)
        if m == "POST" and path == "/v1/invoices":
            return self._checked(params, sp.InvoiceCreateParams) or self._new_invoice(params)
        if m == "GET" and path == "/v1/invoiceitems":
            data = [i for i in self.items.values() if i["invoice"] == req.query.get("invoice")]
            return Reply(200, {"object": "list", "data": data, "has_more": False, "url": "/v1/invoiceitems"})
        if m == "POST" and path == "/v1/invoiceitems":
            return self._checked(params, sp.InvoiceItemCreateParams) or self._new_item(params)
        hit = re.fullmatch(r"/v1/invoices/(in_\w+)(?:/(finalize|send))?", path)
        if m == "POST" and hit:
            inv = self.created.get(hit.group(1))
            if inv is None:
                return _err(404, f"No such invoice: '{hit.group(1)}'", code="resource_missing", param="id")
            action = hit.group(2)
            model = {None: sp.InvoiceUpdateParams, "finalize": sp.InvoiceFinalizeInvoiceParams,
                     "send": sp.InvoiceSendInvoiceParams}[action]
            return self._checked(params, model) or self._act(inv, action, params)
        return _err(404, f"Unrecognized request URL ({m}: {path}).")

    def _checked(self, params: dict[str, Any], model: type) -> Reply | None:
        problems = check_params(params, model)
        if problems:
            code, param, message = problems[0]
            return _err(400, message, code=code, param=param)
        return None

    def _search(self, query: str, pool: dict[str, dict[str, Any]]) -> Reply:
        q = re.fullmatch(r"metadata\['(\w+)'\]:'((?:[^'\\]|\\.)*)'", query)
        if not q:
            return _err(400, f"Invalid search query: {query}", code="parameter_invalid_string", param="query")
        value = re.sub(r"\\(.)", r"\1", q.group(2))
        data = [o for o in pool.values() if o["metadata"].get(q.group(1)) == value]
        return Reply(200, {"object": "search_result", "data": data, "has_more": False, "next_page": None})

    def _new_customer(self, p: dict[str, Any]) -> Reply:
        cid = self._id("cus")
        self.customers[cid] = {"id": cid, "object": "customer", "email": p.get("email"), "name": p.get("name"),
                               "address": p.get("address"), "metadata": p.get("metadata", {})}
        return Reply(200, self.customers[cid])

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
                             "days_until_due": int(p["days_until_due"]) if "days_until_due" in p else None,
                             "metadata": p.get("metadata", {}), "custom_fields": list(p.get("custom_fields", {}).values()),
                             "subtotal": 0, "total": 0, "amount_due": 0, "hosted_invoice_url": None, "invoice_pdf": None,
                             "lines": {"object": "list", "data": []}, "created": int(time.time())}
        return Reply(200, self.created[iid])

    def _new_item(self, p: dict[str, Any]) -> Reply:
        inv = self.created.get(p.get("invoice", ""))
        if inv is None or p.get("customer") != inv["customer"]:
            return _err(400, "No such invoice or customer", code="resource_missing", param="invoice")
        if inv["status"] != "draft":
            return _err(400, "You cannot add invoice items to an invoice that is not a draft.", code="invoice_not_editable")
        if p.get("currency") != inv["currency"]:
            return _err(400, "Currency of the invoice item must match the invoice.", param="currency")
        if "amount" not in p:
            return _err(400, "Missing required param: amount.", code="parameter_missing", param="amount")
        ii = self._id("ii")
        self.items[ii] = {"id": ii, "object": "invoiceitem", "amount": int(p["amount"]), "currency": p["currency"],
                          "customer": p["customer"], "invoice": inv["id"], "description": p.get("description"),
                          "metadata": p.get("metadata", {})}
        inv["lines"]["data"].append(self.items[ii])
        inv["subtotal"] = inv["total"] = inv["amount_due"] = sum(i["amount"] for i in inv["lines"]["data"])
        return Reply(200, self.items[ii])

    def _act(self, inv: dict[str, Any], action: str | None, p: dict[str, Any]) -> Reply:
        if action is None:
            inv["metadata"].update(p.get("metadata", {}))
        elif action == "finalize":
            if inv["status"] != "draft":
                return _err(400, f"This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                            code="invoice_not_editable")
            inv["status"] = "open"
            inv["number"] = inv["number"] or f"FAKE-{len(self.created):04d}"
            inv["hosted_invoice_url"] = f"https://invoice.stripe.com/i/{inv['id']}"
            inv["invoice_pdf"] = f"https://pay.stripe.com/invoice/{inv['id']}/pdf"
        else:
            if inv["collection_method"] != "send_invoice" or inv["status"] != "open":
                return _err(400, "You can only manually send an invoice if its collection method is 'send_invoice' "
                                 "and it is finalized.", code="invoice_not_editable")
            if not self.customers[inv["customer"]].get("email"):
                return _err(400, "The customer has no email address.", code="customer_email_missing")
            self.sent.append(inv["id"])
        return Reply(200, inv)


def make_fake() -> StripeFake:
    return StripeFake()
