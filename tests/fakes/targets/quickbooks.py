"""QuickBooks Online stand-in: ``/v3/company/{realmId}/invoice|salesreceipt|creditmemo|payment|customer|query``,
``GET …/invoice/{id}`` and the Intuit token endpoint.

Bodies are checked by `validate` against the QuickBooks v3 schema of the official Java SDK
(tests/fakes/specs/quickbooks_finance.trimmed.xsd, from intuit/QuickBooks-V3-Java-SDK): every key
an element of the entity's complexType (base types and choices included), every value of the
element's type (``xs:decimal`` a JSON number, ``xs:date`` a date, enums, ``ReferenceType`` ``{"value"}``),
required elements present. A new customer's keys are checked against the documented Customer
fields below (the Customer type is not in the trimmed copy). Then QuickBooks' own rules and
arithmetic: ``minorversion`` ≥ 75, ``requestid`` ≤ 50 chars (a repeat returns the original
response), ``DocNumber`` ≤ 21 chars and unique, amount = quantity × unit price; tax in the global
model per tax code used on the lines, from the caller's ``TaxLine`` (its rate must belong to a code
on the lines, its ``NetAmountTaxable`` equal those lines' sum) or else computed per rate and rounded,
``TotalTax`` equal to the tax lines; in the US model (``make_fake(us=True)``) lines are ``TAX``/``NON``
and ``TxnTaxCodeRef`` names the sales-tax code. A Payment applies a CreditMemo to an Invoice: its lines
link both, for no more than the memo's remaining credit and the invoice's balance, and the link shows
in both documents' ``LinkedTxn``. Errors: ``Fault.Error[].Message/Detail/code`` (401: lower-case ``fault``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from domain.exact import dumps_exact
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer

__all__ = ["QuickBooksFake", "make_fake", "validate", "REALM", "TAX_CODES", "TAX_CODE_MAP", "TAX_RATE_MAP"]

REALM = "9130357992221046"
CLIENT_ID = "qbo-client"
TIME = "2026-11-24T01:00:00.000-08:00"
SPEC = Path(__file__).resolve().parent.parent / "specs" / "quickbooks_finance.trimmed.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"
#: the company's tax codes (global model): TaxCode id → (its sales TaxRate id, rate %)
TAX_CODES = {"5": ("8", Decimal(19)), "15": ("25", Decimal(4)), "16": ("26", Decimal("6.25")), "17": ("27", Decimal("6.5")),
             "18": ("28", Decimal("7.25")), "6": ("9", Decimal(0)), "7": ("10", Decimal(0)), "10": ("13", Decimal(0)),
             "11": ("14", Decimal(0)), "12": ("15", Decimal(0))}
TAX_CODE_MAP = {"S:19": "5", "S:4": "15", "S:6.25": "16", "S:6.5": "17", "S:7.25": "18", "K:0": "6", "AE:0": "7",
                "G:0": "10", "E:0": "11", "O:0": "12"}
TAX_RATE_MAP = {"S:19": "8", "S:4": "25", "S:6.25": "26", "S:6.5": "27", "S:7.25": "28"}
#: Customer fields as the QuickBooks API reference documents them (the schema's Customer type is not copied)
_CUSTOMER = {"DisplayName", "CompanyName", "GivenName", "FamilyName", "PrimaryEmailAddr", "CurrencyRef",
             "BillAddr", "ShipAddr", "Notes", "PrimaryPhone"}
_ENTITIES = {"invoice": "Invoice", "salesreceipt": "SalesReceipt", "creditmemo": "CreditMemo", "payment": "Payment"}


@dataclass(frozen=True)
class _Field:
    type: str
    required: bool
    many: bool


@lru_cache(maxsize=1)
def _schema() -> tuple[dict[str, Any], dict[str, Any]]:
    root = etree.parse(str(SPEC)).getroot()
    return ({e.get("name"): e for e in root.iter(f"{XS}complexType")},
            {e.get("name"): e for e in root.iter(f"{XS}simpleType")})


def _fields(node: Any, optional: bool = False) -> dict[str, _Field]:
    """The elements of a complexType (or one of its groups), base types first; choice members are optional."""
    complex_types, _ = _schema()
    out: dict[str, _Field] = {}
    for child in node:
        tag = child.tag
        if tag == f"{XS}complexContent":
            ext = child[0]
            out |= _fields(complex_types[ext.get("base")]) | _fields(ext)
        elif tag in (f"{XS}sequence", f"{XS}choice"):
            out |= _fields(child, optional or tag == f"{XS}choice" or child.get("minOccurs") == "0")
        elif tag == f"{XS}element":
            out[child.get("name")] = _Field(child.get("type"), not optional and child.get("minOccurs", "1") != "0",
                                            child.get("maxOccurs") == "unbounded")
    return out


def _simple(type_name: str, value: Any, where: str) -> list[str]:
    _, simple_types = _schema()
    if type_name in simple_types:
        restriction = simple_types[type_name][0]
        allowed = [e.get("value") for e in restriction if e.tag == f"{XS}enumeration"]
        if allowed and value not in allowed:
            return [f"{where}: {value!r} is not one of {type_name}"]
        return _simple(restriction.get("base"), value, where)
    number = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    ok = {"xs:string": isinstance(value, str), "xs:decimal": number, "xs:boolean": isinstance(value, bool),
          "xs:date": isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None,
          "xs:positiveInteger": isinstance(value, int) and not isinstance(value, bool) and value > 0,
          "xs:int": isinstance(value, int) and not isinstance(value, bool)}.get(type_name)
    if ok is None:
        return [f"{where}: type {type_name} is not in the trimmed schema"]
    return [] if ok else [f"{where}: {value!r} is not an {type_name}"]


def validate(type_name: str, value: Any, where: str = "") -> list[str]:
    """What the QuickBooks schema refuses in *value*, the JSON form of complexType *type_name* (empty: valid)."""
    complex_types, _ = _schema()
    where = where or type_name
    node = complex_types.get(type_name)
    if node is None:
        return _simple(type_name, value, where)
    if not isinstance(value, dict):
        return [f"{where} must be an object"]
    content = node.find(f"{XS}simpleContent")
    if content is not None:  # {"value": …, <attribute>: …}
        ext = content[0]
        attributes = {a.get("name"): a.get("type") for a in ext if a.tag == f"{XS}attribute"}
        problems = [f"{where}.value is required"] if "value" not in value else _simple(ext.get("base"), value["value"], f"{where}.value")
        for key, item in value.items():
            if key != "value":
                problems += _simple(attributes[key], item, f"{where}.{key}") if key in attributes else [f"unknown field {where}.{key}"]
        return problems
    fields = _fields(node)
    problems = [f"{where}.{name} is required" for name, f in fields.items() if f.required and name not in value]
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            problems.append(f"unknown field {where}.{key}")
        elif field.many:
            problems += [f"{where}.{key} must be an array"] if not isinstance(item, list) else \
                [p for i, sub in enumerate(item) for p in validate(field.type, sub, f"{where}.{key}[{i}]")]
        else:
            problems += validate(field.type, item, f"{where}.{key}")
    return problems


def fault(code: str, message: str, detail: str = "", kind: str = "ValidationFault") -> dict[str, Any]:
    return {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": kind},
            "time": TIME}


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class QuickBooksFake(FakeTarget):
    target = "quickbooks"

    def __init__(self, us: bool = False) -> None:
        super().__init__()
        self.us = us
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, SECRET, REFRESH, basic=True)
        self.replies: dict[tuple[str, str], Reply] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self._ids = 129

    def env(self) -> dict[str, str]:
        p = "INVOICING_QUICKBOOKS_"
        env = {p + "BASE_URL": self.url, p + "TOKEN_URL": f"{self.url}/oauth2/v1/tokens/bearer", p + "CLIENT_ID": CLIENT_ID,
               p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH, p + "TENANT": REALM,
               p + "TAX_CODES": json.dumps(TAX_CODE_MAP), p + "TAX_RATES": json.dumps(TAX_RATE_MAP)}
        return env | ({p + "US_SALES_TAX": "true", p + "TAX_CODES": json.dumps({"S:6.25": "16", "S:7.25": "18"})} if self.us else {})

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                         "detail": "Token expired", "code": "3200"}], "type": "AUTHENTICATION"}, "time": TIME}
        if status == 403:
            return fault("003100", "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", "", "AUTHORIZATION")
        if status == 429:
            return fault("003001", "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                         "The request limit was reached.", "SERVICE")
        if status >= 500:
            return fault("10000", "An application error has occurred while processing your request",
                         "System Failure Error", "SystemFault")
        return fault("2020", "Required param missing, need to supply the required value for the API", "Injected")

    def _id(self) -> str:
        self._ids += 1
        return str(self._ids)

    @staticmethod
    def _ok(entity: str, doc: dict[str, Any]) -> Reply:
        return Reply(200, dumps_exact({entity: {k: v for k, v in doc.items() if k != "_entity"}, "time": TIME}).encode())

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth2/v1/tokens/bearer" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, self.error_body(401))
        m = re.fullmatch(r"/v3/company/([^/]+)/(invoice|salesreceipt|creditmemo|payment|customer|query)(?:/(\w+))?", req.path)
        if not m:
            return Reply(404, fault("610", "Object Not Found", req.path))
        realm, resource, ident = m.groups()
        if realm != REALM:
            return Reply(403, self.error_body(403))
        if int(req.query.get("minorversion", "0")) < 75:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "minorversion must be >= 75"))
        if resource == "query":
            return self._query(req.query.get("query", ""))
        if req.method == "GET" and ident and resource in _ENTITIES:
            doc = self.created.get(ident) if resource != "payment" else self.payments.get(ident)
            if doc is None or doc.get("_entity") != _ENTITIES[resource]:
                return Reply(400, fault("610", "Object Not Found", "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees."))
            return self._ok(_ENTITIES[resource], doc)
        rid = req.query.get("requestid", "")
        if len(rid) > 50:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "requestid longer than 50"))
        if rid and (resource, rid) in self.replies:
            return self.replies[(resource, rid)]
        try:
            body = json.loads(req.body, parse_float=Decimal)
        except ValueError:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "invalid JSON"))
        if resource == "customer":
            reply = self._customer(body)
        elif resource == "payment":
            reply = self._payment(body)
        else:
            reply = self._transaction(body, _ENTITIES[resource])
        if rid:
            self.replies[(resource, rid)] = reply
        return reply

    def _query(self, sql: str) -> Reply:
        q = re.fullmatch(r"select \* from (Invoice|SalesReceipt|CreditMemo|Customer) where (DocNumber|DisplayName) = '((?:[^'\\]|\\.)*)'", sql.strip())
        if not q:
            return Reply(400, fault("4000", "Error parsing query", f"QueryParserError: {sql}"))
        entity, field, value = q.group(1), q.group(2), re.sub(r"\\(.)", r"\1", q.group(3))
        pool = ([d for d in self.created.values() if d["_entity"] == entity] if entity != "Customer"
                else list(self.customers.values()))
        rows = [{k: v for k, v in r.items() if k != "_entity"} for r in pool if r.get(field) == value]
        resp: dict[str, Any] = {"startPosition": 1, "maxResults": len(rows)} if rows else {}
        if rows:
            resp[entity] = rows
        return Reply(200, dumps_exact({"QueryResponse": resp, "time": TIME}).encode())

    def _customer(self, body: dict[str, Any]) -> Reply:
        problems = [f"Property Name:Unrecognized field \"{k}\" in Customer" for k in body if k not in _CUSTOMER]
        if not body.get("DisplayName"):
            problems.append("DisplayName is required")
        if any(c["DisplayName"] == body.get("DisplayName") for c in self.customers.values()):
            return Reply(400, fault("6240", "Duplicate Name Exists Error", "The name supplied already exists."))
        if problems:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "; ".join(problems)))
        cid = self._id()
        self.customers[cid] = dict(body, Id=cid, SyncToken="0")
        return Reply(200, dumps_exact({"Customer": self.customers[cid], "time": TIME}).encode())

    def _tax(self, body: dict[str, Any]) -> tuple[list[str], Decimal]:
        """QuickBooks' tax for the transaction, and what it refuses in the tax fields."""
        detail = body.get("TxnTaxDetail") or {}
        taxable: dict[str, Decimal] = {}
        problems: list[str] = []
        for line in body["Line"]:
            code = ((line.get("SalesItemLineDetail") or {}).get("TaxCodeRef") or {}).get("value")
            known = {"TAX", "NON"} if self.us else set(TAX_CODES)
            if code not in known:
                problems.append(f"Invalid tax code {code!r}: the line needs one of the company's tax codes")
            taxable[str(code)] = taxable.get(str(code), Decimal(0)) + line["Amount"]
        if self.us:
            code = (detail.get("TxnTaxCodeRef") or {}).get("value")
            if taxable.get("TAX") and code not in TAX_CODES:
                problems.append(f"TxnTaxCodeRef {code!r} is not a sales tax code of this company")
            rate = TAX_CODES[code][1] if code in TAX_CODES else Decimal(0)
            computed = _q(taxable.get("TAX", Decimal(0)) * rate / 100)
            return problems, Decimal(detail.get("TotalTax", computed))
        supplied = {}
        for tl in detail.get("TaxLine") or []:
            rate_id = ((tl.get("TaxLineDetail") or {}).get("TaxRateRef") or {}).get("value")
            codes = [c for c in taxable if c in TAX_CODES and TAX_CODES[c][0] == rate_id]
            if not codes:
                problems.append(f"TaxRateRef {rate_id!r} is not the rate of a tax code used on the lines")
            elif tl["TaxLineDetail"].get("NetAmountTaxable") != taxable[codes[0]]:
                problems.append(f"NetAmountTaxable {tl['TaxLineDetail'].get('NetAmountTaxable')} is not the sum of the lines taxed at {rate_id}")
            supplied[rate_id] = tl["Amount"]
        tax = sum((supplied.get(TAX_CODES[c][0], _q(amount * TAX_CODES[c][1] / 100))
                   for c, amount in taxable.items() if c in TAX_CODES), Decimal(0))
        if "TotalTax" in detail and detail["TotalTax"] != tax:
            problems.append(f"TotalTax {detail['TotalTax']} is not the sum of the tax lines ({tax})")
        return problems, tax

    def _transaction(self, body: dict[str, Any], entity: str) -> Reply:
        problems = validate(entity, body)
        if not problems and not (body.get("CustomerRef") or {}).get("value") in self.customers:
            problems.append("Invalid Reference Id : Customer assigned to this transaction has been deleted or is invalid")
        if not problems and not body.get("Line"):
            problems.append("Required parameter Line is missing in the request")
        for line in (body.get("Line") or []) if not problems else []:
            detail = line.get("SalesItemLineDetail") or {}
            if line.get("DetailType") != "SalesItemLineDetail" or not (detail.get("ItemRef") or {}).get("value"):
                problems.append("SalesItemLineDetail with ItemRef is required")
            elif _q(detail["Qty"] * detail["UnitPrice"]) != line["Amount"]:
                problems.append("Amount is not equal to UnitPrice * Qty")
        tax = Decimal(0)
        if not problems:
            problems, tax = self._tax(body)
        if problems:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "; ".join(problems)))
        number = str(body.get("DocNumber", ""))
        if len(number) > 21:
            return Reply(400, fault("6000", "A business validation error has occurred while processing your request",
                                    "Business Validation Error: DocNumber is too long (max 21)"))
        if any(d["DocNumber"] == number and d["_entity"] == entity for d in self.created.values()):
            return Reply(400, fault("6140", "Duplicate Document Number Error",
                                    f"Duplicate Document Number Error : You must specify a different number. "
                                    f"This number has already been used. DocNumber={number}"))
        tid = self._id()
        total = sum((ln["Amount"] for ln in body["Line"]), Decimal(0)) + tax
        stored = dict(body, Id=tid, SyncToken="0", TotalAmt=total, _entity=entity)
        stored["TxnTaxDetail"] = dict(body.get("TxnTaxDetail") or {}, TotalTax=tax)
        if entity == "Invoice":
            stored["Balance"] = total
        if entity == "CreditMemo":
            stored["RemainingCredit"] = total
        self.created[tid] = stored
        self.booked[tid] = Booked("credit_note" if entity == "CreditMemo" else "invoice", total, tax)
        return self._ok(entity, stored)

    def _payment(self, body: dict[str, Any]) -> Reply:
        problems = validate("Payment", body)
        links = [(ln.get("Amount"), t) for ln in body.get("Line") or [] for t in ln.get("LinkedTxn") or []]
        docs = {t.get("TxnType"): (amount, self.created.get(str(t.get("TxnId")))) for amount, t in links}
        invoice, memo = docs.get("Invoice", (None, None)), docs.get("CreditMemo", (None, None))
        if not problems and (invoice[1] is None or memo[1] is None or invoice[1]["_entity"] != "Invoice"
                             or memo[1]["_entity"] != "CreditMemo"):
            problems.append("Invalid Reference Id : the linked transactions must be an existing Invoice and CreditMemo")
        elif not problems and (invoice[0] != memo[0] or invoice[0] <= 0 or invoice[0] > invoice[1]["Balance"]
                               or memo[0] > memo[1]["RemainingCredit"]):
            problems.append("The amount applied must be equal on both lines and within the invoice balance and the remaining credit")
        elif not problems and body.get("TotalAmt", Decimal(0)) != 0:
            problems.append("A payment that only applies a credit memo has TotalAmt 0")
        if problems:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "; ".join(problems)))
        pid, amount = self._id(), invoice[0]
        self.payments[pid] = dict(body, Id=pid, _entity="Payment")
        invoice[1]["Balance"] -= amount
        memo[1]["RemainingCredit"] -= amount
        for doc in (invoice[1], memo[1]):
            doc["LinkedTxn"] = list(doc.get("LinkedTxn") or []) + [{"TxnId": pid, "TxnType": "Payment"}]
        self.booked[memo[1]["Id"]].linked_to = invoice[1]["Id"]
        return self._ok("Payment", self.payments[pid])


def make_fake(us: bool = False) -> QuickBooksFake:
    return QuickBooksFake(us)
