"""Xero Accounting API stand-in: ``Invoices``, ``CreditNotes`` with ``Allocations``, and the identity token endpoint.

Every body is checked by `validate` against the official SDK's models (xero-python, generated
from XeroAPI/Xero-OpenAPI ``xero_accounting.yaml``): no key the models do not declare, every value
of the JSON type the model declares (``float`` → a JSON number, ``str`` → a string, ISO or
``/Date(ms)/`` dates), and the SDK's own deserialisation (required attributes such as an
allocation's ``Invoice``/``Amount``/``Date``, enums such as ``Type``, ``Status``,
``LineAmountTypes``, ``CurrencyCode``). Then Xero's own rules: unique numbers, line amount =
quantity × unit amount − discount, an account code on AUTHORISED lines, a ``TaxType`` the
organisation has. Tax is Xero's arithmetic: per line, ``TaxAmount`` when the caller sets it (Xero
lets it be overridden), else the line amount × the type's rate rounded to the cent; an allocation
may not exceed the credit note's remaining credit or the invoice's amount due. Errors use Xero's
bodies: ``ValidationException`` with ``Elements[].ValidationErrors[].Message`` (400) and the
problem-details shape for 401/403/429/5xx. ``Idempotency-Key`` replays the first response.
"""
from __future__ import annotations

import importlib
import json
import re
import uuid
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xero_python.api_client import ModelFinder
from xero_python.api_client.deserializer import deserialize

from domain.exact import dumps_exact
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, REFRESH, TokenIssuer

__all__ = ["XeroFake", "make_fake", "validate", "TAX_TYPES", "TAX_MAP", "TENANT"]

_MODELS = importlib.import_module("xero_python.accounting.models")
_FINDER = ModelFinder(_MODELS)
TENANT = "6c1e5a9b-0000-4000-8000-00000000a1b2"
CLIENT_ID, CLIENT_SECRET = "xero-client", SECRET
API = "/api.xro/2.0"
CENT = Decimal("0.01")
#: the organisation's tax rates (TaxType → rate %), as ``GET /TaxRates`` would list them
TAX_TYPES = {"OUTPUT2": Decimal("19"), "TAX004": Decimal("4"), "TAX625": Decimal("6.25"), "TAX650": Decimal("6.5"),
             "TAX725": Decimal("7.25"), "ECZROUTPUT": Decimal(0), "ECZROUTPUTSERVICES": Decimal(0),
             "ZERORATEDOUTPUT": Decimal(0), "EXEMPTOUTPUT": Decimal(0), "NONE": Decimal(0)}
#: INVOICING_XERO_TAX_TYPES for this organisation: every (category, rate) the reference data produces
TAX_MAP = {"S:19": "OUTPUT2", "S:4": "TAX004", "S:6.25": "TAX625", "S:6.5": "TAX650", "S:7.25": "TAX725",
           "K:0": "ECZROUTPUT", "AE:0": "ECZROUTPUTSERVICES", "G:0": "ZERORATEDOUTPUT", "E:0": "EXEMPTOUTPUT",
           "O:0": "NONE"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|/Date\(-?\d+([+-]\d{4})?\)/")


def _ms_date(value: str) -> str:
    if value.startswith("/Date("):
        return value
    ms = int(datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=timezone.utc).timestamp() * 1000)
    return f"/Date({ms}+0000)/"


def _walk(model: str, data: Any, path: str) -> tuple[list[str], Any]:
    """Problems in *data* against the SDK model *model*, and *data* with ISO dates as the SDK's ``/Date(ms)/``."""
    cls = getattr(_MODELS, model)
    if not isinstance(data, dict):
        return [f"{path or model} must be an object"], data
    known = {json_name: cls.openapi_types[attr] for attr, json_name in cls.attribute_map.items()}
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}{key}"
        kind = known.get(key)
        if kind is None:
            problems.append(f"unknown field {where}")
            continue
        many = kind.startswith("list[")
        sub = kind[5:-1] if many else kind
        values = value if many else [value]
        if many and not isinstance(value, list):
            problems.append(f"{where} must be an array")
            continue
        converted = []
        for i, item in enumerate(values):
            at = f"{where}[{i}]." if many else f"{where}."
            if sub == "float" and (isinstance(item, bool) or not isinstance(item, (int, Decimal))):
                problems.append(f"{where} must be a JSON number, got {item!r}")
            elif sub in ("str", "bool") and not isinstance(item, {"str": str, "bool": bool}[sub]):
                problems.append(f"{where} must be a {sub}, got {item!r}")
            elif sub.startswith("date") and not (isinstance(item, str) and _DATE.fullmatch(item)):
                problems.append(f"{where} {item!r} is not a date")
            elif sub.startswith("date[ms-format]") and isinstance(item, str):
                item = _ms_date(item)
            elif isinstance(getattr(_MODELS, sub, None), type) and getattr(getattr(_MODELS, sub), "attribute_map", None):
                more, item = _walk(sub, item, at)
                problems += more
            converted.append(item)
        out[key] = converted if many else converted[0]
    return problems, out


def validate(model: str, data: Any) -> list[str]:
    """What xero-python's model *model* refuses in the request body *data* (empty: accepted)."""
    problems, converted = _walk(model, data, "")
    if not problems:
        try:
            deserialize(model, converted, _FINDER)
        except (ValueError, TypeError) as exc:
            problems.append(f"{model}: {exc}")
    return problems


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _ok(body: dict[str, Any]) -> Reply:
    """A 200 with Xero's envelope; amounts as exact JSON numbers."""
    return Reply(200, dumps_exact({"Id": str(uuid.uuid4()), "Status": "OK", **body}).encode())


class XeroFake(FakeTarget):
    target = "xero"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, CLIENT_SECRET, REFRESH)
        self.replies: dict[str, Reply] = {}
        self.credit_notes: dict[str, dict[str, Any]] = {}

    def env(self) -> dict[str, str]:
        p = "INVOICING_XERO_"
        return {p + "BASE_URL": f"{self.url}{API}", p + "TOKEN_URL": f"{self.url}/connect/token",
                p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET, p + "REFRESH_TOKEN": REFRESH,
                p + "TENANT": TENANT, p + "TAX_TYPES": json.dumps(TAX_MAP)}

    def error_body(self, status: int) -> Any:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
                  500: "An error occurred", 503: "Service Unavailable"}
        if status == 400 or status == 422:
            return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                    "Elements": [{"ValidationErrors": [{"Message": "Injected validation failure"}]}]}
        return {"Type": None, "Title": titles.get(status, "Error"), "Status": status,
                "Detail": "AuthenticationUnsuccessful" if status in (401, 403) else "Injected failure",
                "Instance": str(uuid.uuid4()), "Extensions": {}}

    def _validation(self, doc: Any, messages: list[str]) -> Reply:
        element = json.loads(dumps_exact(doc)) if isinstance(doc, dict) else {}
        return Reply(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                           "Elements": [{**element, "ValidationErrors": [{"Message": m} for m in messages]}]})

    def handle(self, req: Req) -> Reply:
        if req.path == "/connect/token" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, self.error_body(401), {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if req.headers.get("xero-tenant-id") != TENANT:
            return Reply(403, {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"})
        path = req.path[len(API):] if req.path.startswith(API) else None
        if req.method == "GET" and path == "/Invoices":
            wanted = set(filter(None, req.query.get("InvoiceNumbers", "").split(",")))
            found = [d for d in self.created.values() if not wanted or d["InvoiceNumber"] in wanted]
            return _ok({"Invoices": found})
        if req.method == "GET" and path and path.startswith("/Invoices/"):
            doc = self.created.get(path.rsplit("/", 1)[1])
            return _ok({"Invoices": [doc]}) if doc else Reply(404, self.error_body(404))
        if req.method == "GET" and path == "/CreditNotes":
            m = re.fullmatch(r'CreditNoteNumber=="([^"]*)"', req.query.get("where", ""))
            found = [d for d in self.credit_notes.values() if m is None or d["CreditNoteNumber"] == m.group(1)]
            return _ok({"CreditNotes": found})
        m = re.fullmatch(r"/CreditNotes/([^/]+)/Allocations", path or "")
        routes = {"/Invoices": self._invoice, "/CreditNotes": self._credit_note}
        if req.method != "PUT" or not (path in routes or m):
            return Reply(404 if req.method in ("GET", "PUT") else 405, self.error_body(404))
        key = req.headers.get("idempotency-key")
        if key and key in self.replies:
            return self.replies[key]
        try:
            body = json.loads(req.body, parse_float=Decimal)
        except ValueError:
            return Reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": "Invalid JSON"})
        reply = self._allocate(m.group(1), body) if m else routes[str(path)](body)
        if key and reply.status < 500:
            self.replies[key] = reply
        return reply

    def _one(self, body: Any, wrapper: str, model: str) -> tuple[dict[str, Any] | None, Reply | None]:
        docs = body.get(wrapper) if isinstance(body, dict) else None
        if not isinstance(docs, list) or len(docs) != 1:
            return None, Reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                     "Message": f"Expected {{{wrapper}: [one]}}"})
        problems = validate(model, docs[0])
        return (docs[0], None) if not problems else (None, self._validation(docs[0], problems))

    def _lines(self, doc: dict[str, Any]) -> tuple[list[str], Decimal, Decimal]:
        """Xero's rules for the lines, and the subtotal and tax Xero books for them."""
        out, sub, tax = [], Decimal(0), Decimal(0)
        if not doc.get("LineItems"):
            out.append("At least one line item is required")
        for li in doc.get("LineItems") or []:
            rate = TAX_TYPES.get(li.get("TaxType", ""))
            if rate is None:
                out.append(f"The TaxType code {li.get('TaxType')!r} does not exist or cannot be used for this type of transaction")
                continue
            amount = _q(li["Quantity"] * li["UnitAmount"] - li.get("DiscountAmount", 0))
            if "LineAmount" in li and Decimal(li["LineAmount"]) != amount:
                out.append(f"Line total {li['LineAmount']} does not equal quantity x unit amount ({amount})")
            if doc.get("Status") == "AUTHORISED" and not li.get("AccountCode"):
                out.append("Account code must be specified")
            line_tax = Decimal(li["TaxAmount"]) if "TaxAmount" in li else _q(amount * rate / 100)
            if rate == 0 and line_tax:
                out.append(f"Tax amount must be zero for the zero-rated TaxType {li['TaxType']}")
            sub, tax = sub + amount, tax + line_tax
        return out, sub, tax

    def _invoice(self, body: Any) -> Reply:
        doc, error = self._one(body, "Invoices", "Invoice")
        if doc is None:
            return error  # type: ignore[return-value]
        problems, sub, tax = self._lines(doc)
        if doc.get("Type") != "ACCREC":
            problems.append("Type must be ACCREC for a sales invoice")
        if not (doc.get("Contact") or {}).get("ContactID") and not (doc.get("Contact") or {}).get("Name"):
            problems.append("A Contact must be specified with this type of transaction")
        if any(d["InvoiceNumber"] == doc.get("InvoiceNumber") for d in self.created.values()):
            problems.append("Invoice # must be unique.")
        if problems:
            return self._validation(doc, problems)
        iid = str(uuid.uuid4())
        stored = dict(doc, InvoiceID=iid, HasErrors=False, SubTotal=sub, TotalTax=tax, Total=sub + tax,
                      AmountDue=sub + tax, AmountCredited=Decimal(0))
        self.created[iid] = stored
        self.booked[iid] = Booked("invoice", sub + tax, tax)
        return _ok({"Invoices": [stored]})

    def _credit_note(self, body: Any) -> Reply:
        doc, error = self._one(body, "CreditNotes", "CreditNote")
        if doc is None:
            return error  # type: ignore[return-value]
        problems, sub, tax = self._lines(doc)
        if doc.get("Type") != "ACCRECCREDIT":
            problems.append("Type must be ACCRECCREDIT for a sales credit note")
        if any(d["CreditNoteNumber"] == doc.get("CreditNoteNumber") for d in self.credit_notes.values()):
            problems.append("Credit Note # must be unique.")
        if problems:
            return self._validation(doc, problems)
        cid = str(uuid.uuid4())
        stored = dict(doc, CreditNoteID=cid, HasErrors=False, SubTotal=sub, TotalTax=tax, Total=sub + tax,
                      RemainingCredit=sub + tax, Allocations=[])
        self.credit_notes[cid] = stored
        self.booked[cid] = Booked("credit_note", sub + tax, tax)
        return _ok({"CreditNotes": [stored]})

    def _allocate(self, cid: str, body: Any) -> Reply:
        note = self.credit_notes.get(cid)
        if note is None:
            return Reply(404, self.error_body(404))
        doc, error = self._one(body, "Allocations", "Allocation")
        if doc is None:
            return error  # type: ignore[return-value]
        invoice = self.created.get(str((doc.get("Invoice") or {}).get("InvoiceID")))
        amount = Decimal(doc["Amount"])
        if invoice is None:
            return self._validation(doc, ["Invoice could not be found"])
        if amount <= 0 or amount > note["RemainingCredit"] or amount > invoice["AmountDue"]:
            return self._validation(doc, ["The amount being allocated exceeds the remaining credit or the amount due"])
        invoice["AmountDue"] -= amount
        invoice["AmountCredited"] += amount
        note["RemainingCredit"] -= amount
        allocation = {"AllocationID": str(uuid.uuid4()), "Amount": amount, "Date": doc["Date"],
                      "Invoice": {"InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice["InvoiceNumber"]}}
        note["Allocations"].append(allocation)
        self.booked[cid].linked_to = invoice["InvoiceID"]
        return _ok({"Allocations": [allocation]})


def make_fake() -> XeroFake:
    return XeroFake()
