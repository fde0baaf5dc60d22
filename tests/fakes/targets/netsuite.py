"""NetSuite REST record API stand-in: external-id upsert of invoices and credit memos, credit memos
applied to invoices, sales-order transform, M2M token endpoint.

Answers as NetSuite documents: 204 + ``Location`` on create/upsert, the record on GET, and errors as
RFC 9457 problem details ``{"type","title","status","o:errorDetails":[{"detail","o:errorCode"}]}``.

Every record body is checked by `validate` against the documented record fields
(tests/fakes/specs/netsuite_record_fields.json, JSON Schema draft 4, no field the record does not
have), then NetSuite's rules: references resolve, each item line's ``taxDetailsReference`` has its
tax detail and the detail's tax code is a code of the account at the rate given, a credit memo is
applied only to an open invoice of the same customer, never beyond its ``amountRemaining`` nor beyond
the memo's total. Booked tax: with ``taxDetailsOverride`` the tax details' amounts (checked against
basis × rate to the cent); without it, SuiteTax's own per-line computation, rounded per line.
"""
from __future__ import annotations

import copy
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer, dec_json, out

__all__ = ["FakeNetSuite", "make_fake", "validate", "problem", "ID_MAP", "TAX_CODES"]

RECORD = "/services/rest/record/v1"
TOKEN = "/services/rest/auth/oauth2/v1/token"
SPEC = Path(__file__).resolve().parent.parent / "specs" / "netsuite_record_fields.json"
#: the account's tax codes (SuiteTax): internal id → rate %
TAX_CODES = {"5": Decimal("19"), "6": Decimal("7"), "7": Decimal(0), "8": Decimal(0), "9": Decimal(0), "10": Decimal(0),
             "11": Decimal(0), "12": Decimal(0), "13": Decimal("4"), "14": Decimal("6.25"), "15": Decimal("6.5"),
             "16": Decimal("7.25")}
_TAX_MAP = {"tax:S:19": "5", "tax:S:7": "6", "tax:Z:0": "7", "tax:E:0": "8", "tax:AE:0": "9", "tax:K:0": "10",
            "tax:G:0": "11", "tax:O:0": "12", "tax:S:4": "13", "tax:S:6.25": "14", "tax:S:6.5": "15", "tax:S:7.25": "16"}
ID_MAP = json.dumps({"customer:*": "1042", "item:*": "77", "currency:EUR": "1", "currency:USD": "2", "currency:GBP": "3",
                     "currency:JPY": "4", "currency:CHF": "5", **_TAX_MAP})
_EID = re.compile(r"^[A-Za-z0-9_-]+$")
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
_CODES = {400: "INVALID_CONTENT", 401: "INVALID_LOGIN", 403: "INSUFFICIENT_PERMISSION", 404: "NONEXISTENT_ID",
          422: "USER_ERROR", 429: "CONCURRENCY_LIMIT_EXCEEDED", 500: "UNEXPECTED_ERROR", 503: "UNEXPECTED_ERROR"}
_CENT = Decimal("0.01")


def problem(status: int, detail: str, code: str | None = None) -> dict[str, Any]:
    return {"type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.{5 if status < 500 else 6}",
            "title": _TITLES.get(status, "Error"), "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": code or _CODES.get(status, "USER_ERROR")}]}


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


@lru_cache(maxsize=None)
def _validator(record: str) -> jsonschema.Draft4Validator:
    spec = json.loads(SPEC.read_text())
    rec = spec["records"][record]
    schema = {"definitions": copy.deepcopy(spec["definitions"]), "type": "object",
              "properties": spec["definitions"]["header"] | rec["extra"], "required": rec["required"]}
    del schema["definitions"]["header"]
    return jsonschema.Draft4Validator(_closed(schema))


def validate(record: str, body: Any) -> list[str]:
    """What the documented fields of NetSuite's *record* (``invoice``, ``creditMemo``) refuse in the
    JSON *body* (parsed with floats, as JSON Schema sees it)."""
    return [f"{'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in sorted(_validator(record).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))]


def _q(v: Decimal) -> Decimal:
    return v.quantize(_CENT, ROUND_HALF_UP)


class FakeNetSuite(FakeTarget):
    target = "netsuite"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials", basic=True)
        self.by_eid: dict[str, str] = {}  # invoices: external id → internal id
        self.memo_by_eid: dict[str, str] = {}  # credit memos: external id → internal id
        self.records: dict[str, dict[str, Any]] = {}  # internal id → record (both types)
        self.memos: dict[str, Any] = {}  # credit memo bodies by external id (``created`` holds the invoices)
        self.sales_orders = {"5001": {"status": "pendingBilling", "entity": "1042"}}
        self.next_id = 9000

    def env(self) -> dict[str, str]:
        p = "INVOICING_NETSUITE_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "cid", p + "CLIENT_SECRET": SECRET, p + "ID_MAP": ID_MAP}

    def error_body(self, status: int) -> Any:
        return problem(status, f"Injected HTTP {status}.")

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == TOKEN:
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, problem(401, "Invalid login attempt. For more details, see the Login Audit Trail.",
                                      "INVALID_LOGIN"))
        m = re.fullmatch(RECORD + r"/(invoice|creditMemo)/eid:(.+)", req.path)
        if m and req.method == "GET":
            index = self.by_eid if m.group(1) == "invoice" else self.memo_by_eid
            iid = index.get(m.group(2))
            if iid is None:
                return Reply(404, problem(404, "The record instance does not exist. Provide a valid record instance ID."))
            return Reply(200, out({k: v for k, v in self.records[iid].items() if not k.startswith("_")}))
        if m and req.method == "PUT":
            return self.upsert(m.group(1), m.group(2), req)
        m = re.fullmatch(RECORD + r"/(invoice|creditMemo)/(\d+)", req.path)
        if m and req.method == "GET":
            rec = self.records.get(m.group(2))
            if rec is None or rec["_type"] != m.group(1):
                return Reply(404, problem(404, "The record instance does not exist. Provide a valid record instance ID."))
            return Reply(200, out({k: v for k, v in rec.items() if not k.startswith("_")}))
        m = re.fullmatch(RECORD + r"/salesOrder/(\w+)/!transform/invoice", req.path)
        if m and req.method == "POST":
            return self.transform(m.group(1), req)
        return Reply(404, problem(404, f"Invalid URL {req.path}.", "INVALID_URL"))

    # -- storage ---------------------------------------------------------------------------------

    def _store(self, record: str, eid: str, body: dict[str, Any], extra: dict[str, Any]) -> tuple[str, Reply]:
        index = self.by_eid if record == "invoice" else self.memo_by_eid
        iid = index.get(eid)
        if iid is None:
            self.next_id += 1
            iid = str(self.next_id)
            index[eid] = iid
            (self.created if record == "invoice" else self.memos)[eid] = body
        location = f"{self.url}{RECORD}/{record}/{iid}"
        self.records[iid] = {**body, **extra, "id": iid, "externalId": eid, "_type": record,
                             "links": [{"rel": "self", "href": location}]}
        return iid, Reply(204, b"", {"Location": location})

    def _totals(self, body: dict[str, Any]) -> tuple[Decimal, Decimal]:
        """(tax, total) as NetSuite books the record."""
        items = body.get("item", {}).get("items", [])
        net = sum((Decimal(it["amount"]) for it in items), Decimal(0))
        details = body.get("taxDetails", {}).get("items", [])
        if body.get("taxDetailsOverride"):
            tax = sum((Decimal(d["taxAmount"]) for d in details), Decimal(0))
        else:
            rates = {d["taxDetailsReference"]: TAX_CODES[d["taxCode"]["id"]] for d in details}
            tax = sum((_q(Decimal(it["amount"]) * rates.get(it.get("taxDetailsReference"), Decimal(0)) / 100)
                       for it in items), Decimal(0))
        return tax, net + tax

    def upsert(self, record: str, eid: str, req: Req) -> Reply:
        if not _EID.match(eid):
            return Reply(400, problem(400, "Invalid external ID: use letters, digits, '_' and '-' only.", "INVALID_ID"))
        if req.headers.get("content-type", "").split(";")[0] != "application/json":
            return Reply(415, problem(415, "Unsupported media type."))
        try:
            raw = json.loads(req.body or b"null")
        except ValueError:
            return Reply(400, problem(400, "Invalid JSON body.", "INVALID_CONTENT"))
        errors = validate(record, raw)
        if errors:
            return Reply(400, problem(400, "; ".join(errors), "INVALID_FLD_VALUE"))
        body = dec_json(req)
        error = check_record(body)
        if error:
            return Reply(400, problem(400, error, "USER_ERROR"))
        if body.get("externalId", eid) != eid:
            return Reply(400, problem(400, "externalId in the body differs from the URL.", "INVALID_FLD_VALUE"))
        tax, total = self._totals(body)
        if record == "invoice":
            iid, reply = self._store(record, eid, body, {"taxTotal": tax, "total": total, "amountRemaining": total,
                                                          "status": "open"})
            self.booked[iid] = Booked("invoice", total=total, tax=tax)
            return reply
        return self.credit_memo(eid, body, tax, total)

    def credit_memo(self, eid: str, body: dict[str, Any], tax: Decimal, total: Decimal) -> Reply:
        previous = self.records.get(self.memo_by_eid.get(eid, ""))
        remaining = {iid: r["amountRemaining"] for iid, r in self.records.items() if r["_type"] == "invoice"}
        for line in (previous or {}).get("apply", {}).get("items", []):  # an upsert replaces the application
            if line.get("apply"):
                remaining[line["doc"]["id"]] += Decimal(line["amount"])
        applied, linked = Decimal(0), None
        for i, line in enumerate(body.get("apply", {}).get("items", [])):
            inv = self.records.get(line["doc"]["id"])
            if inv is None or inv["_type"] != "invoice":
                return Reply(400, problem(400, f"apply.items[{i}].doc: the record instance does not exist.", "USER_ERROR"))
            if inv["entity"] != body["entity"]:
                return Reply(400, problem(400, f"apply.items[{i}].doc: the invoice belongs to another customer.",
                                          "USER_ERROR"))
            if not line.get("apply"):
                continue
            amount = Decimal(line.get("amount", 0))
            if amount <= 0 or amount > remaining[inv["id"]]:
                return Reply(400, problem(400, f"apply.items[{i}].amount {amount} is not within the invoice's amount "
                                               f"remaining ({remaining[inv['id']]}).", "USER_ERROR"))
            remaining[inv["id"]] -= amount
            applied += amount
            linked = inv["id"]
        if applied > total:
            return Reply(400, problem(400, f"Applied {applied} exceeds the credit memo's total {total}.", "USER_ERROR"))
        for iid, left in remaining.items():
            self.records[iid]["amountRemaining"] = left
            self.records[iid]["status"] = "open" if left else "paidInFull"
        iid, reply = self._store("creditMemo", eid, body, {"taxTotal": tax, "total": total, "applied": applied,
                                                            "unapplied": total - applied})
        self.booked[iid] = Booked("credit_note", total=total, tax=tax, linked_to=linked)
        return reply

    def transform(self, so: str, req: Req) -> Reply:
        order = self.sales_orders.get(so)
        if order is None:
            return Reply(404, problem(404, "The record instance does not exist.", "NONEXISTENT_ID"))
        if order["status"] != "pendingBilling":
            return Reply(400, problem(400, "You can not initialize invoice: invalid reference key.", "USER_ERROR"))
        body = dec_json(req) or {}
        eid = body.get("externalId")
        if not eid or not _EID.match(eid):
            return Reply(400, problem(400, "Please enter a value for externalId.", "USER_ERROR"))
        if eid in self.by_eid:  # NetSuite: external ids are unique per record type
            return Reply(400, problem(400, "A record with this external ID already exists.", "DUP_RCRD"))
        order["status"] = "fullyBilled"
        _, reply = self._store("invoice", eid, {**body, "createdFrom": {"id": so}, "entity": {"id": order["entity"]}},
                               {"amountRemaining": Decimal(0)})
        return reply


def _ref(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"].isdigit()


def check_record(body: Any) -> str | None:
    """NetSuite's rules beyond the field list (the fields the sink uses)."""
    if not isinstance(body, dict):
        return "Invalid JSON body."
    for f in ("entity", "currency"):
        if not _ref(body.get(f)):
            return f"Please enter value(s) for: {f} (a reference {{\"id\": \"<internal id>\"}})."
    if not isinstance(body.get("tranId"), str) or not body["tranId"]:
        return "Please enter value(s) for: tranId."
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body.get("tranDate", ""))):
        return "Invalid tranDate: use YYYY-MM-DD."
    items = (body.get("item") or {}).get("items")
    if not isinstance(items, list) or not items:
        return "You must enter at least one line item for this transaction."
    refs = {}
    for i, it in enumerate(items):
        if not _ref(it.get("item")):
            return f"item.items[{i}].item must be a reference."
        for f in ("quantity", "rate", "amount"):
            if not isinstance(it.get(f), Decimal):
                return f"item.items[{i}].{f} must be a number."
        if it.get("taxDetailsReference") in refs:
            return f"item.items[{i}].taxDetailsReference is used twice."
        refs[it.get("taxDetailsReference")] = it
    details = (body.get("taxDetails") or {}).get("items") or []
    covered = set()
    for j, d in enumerate(details):
        line = refs.get(d.get("taxDetailsReference"))
        if line is None or not _ref(d.get("taxCode")):
            return f"taxDetails.items[{j}]: each needs a line's taxDetailsReference and a taxCode reference."
        code = d["taxCode"]["id"]
        if code not in TAX_CODES:
            return f"taxDetails.items[{j}].taxCode: invalid reference {code}."
        covered.add(d["taxDetailsReference"])
        if body.get("taxDetailsOverride"):
            if not all(isinstance(d.get(f), Decimal) for f in ("taxBasis", "taxRate", "taxAmount")):
                return f"taxDetails.items[{j}]: taxBasis, taxRate and taxAmount must be numbers."
            if d["taxRate"] != TAX_CODES[code]:
                return f"taxDetails.items[{j}].taxRate {d['taxRate']} is not the rate of tax code {code} ({TAX_CODES[code]})."
            if d["taxBasis"] != line["amount"]:
                return f"taxDetails.items[{j}].taxBasis differs from the line's amount."
            if abs(d["taxAmount"] - d["taxBasis"] * d["taxRate"] / 100) > _CENT:
                return f"taxDetails.items[{j}].taxAmount {d['taxAmount']} is not basis × rate."
    if body.get("taxDetailsOverride") and covered != set(refs):
        return "taxDetails: every item line needs its tax detail when taxDetailsOverride is set."
    return None


def make_fake() -> FakeNetSuite:
    return FakeNetSuite()
