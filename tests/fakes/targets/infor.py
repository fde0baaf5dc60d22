"""Infor CSI stand-in: ION API gateway (OAuth2 token, tenant-prefixed routes) in front of Mongoose IDO REST.

Token: ``POST /{ti}/as/token.oauth2`` (password grant with the .ionapi service-account keys
``saak``/``sask``, or client credentials). IDO calls need the Bearer token and
``X-Infor-MongooseConfig``: ``GET /{ti}/CSI/IDORequestService/ido/load/{IDO}?properties=&filter=``
→ ``{"Items": [...], "Message", "MessageCode", "Success", "Bookmark"}``;
``POST …/ido/update/{IDO}`` with ``{"Changes": [{"Action": 1, "ItemId", "Properties": [{"Name",
"Value", "Modified", "IsNull"}]}]}``. IDO failures answer ``{"Message", "MessageCode", "Success": false}``
(HTTP 200, as Mongoose does for business errors); gateway failures use HTTP status codes.
The fake writes a ``.ionapi`` file and points the sink at it.

Property names and value formats are checked against tests/fakes/specs/infor_ido_properties.json
(`property_problems`). CSI's arithmetic as modelled here [S]: a tax distribution's amount is the
tax code's rate × ``TaxBasis`` rounded to cents (ArinvdTaxAmtSp); the distributions of a document
must add up to its header (``Amount`` for G/L lines, ``SalesTax`` for tax lines). ``booked`` is
filled when a document's distributions are in: total = lines + tax, tax = the tax distributions,
and for a credit memo (``Type`` C) the invoice named by ``ApplyToInvNum``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

TENANT = "KOMPRESSOR_TST"
CLIENT_ID = "KOMPRESSOR_TST~pipeline"
CLIENT_SECRET = "ion-client-secret-5e6f"
SAAK = "KOMPRESSOR_TST#service-account-key"
SASK = "service-account-secret-a1b2c3"
CONFIG = "CSI_DALS"
_MDATE = re.compile(r"^\d{8} 00:00:00\.000$")
SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "infor_ido_properties.json").read_text())
#: the tenant's CSI tax codes (rate %), and the mapping the sink is configured with
TAX_CODES = {"DE19": Decimal(19), "EUIC": Decimal(0), "EURC": Decimal(0), "EXP": Decimal(0), "EXMT": Decimal(0),
             "NOTX": Decimal(0), "US625": Decimal("6.25"), "US4": Decimal(4), "US65": Decimal("6.5"), "US725": Decimal("7.25")}
TAX_MAP = {"S:19": "DE19", "K:0": "EUIC", "AE:0": "EURC", "G:0": "EXP", "E:0": "EXMT", "O:0": "NOTX",
           "S:6.25": "US625", "S:4": "US4", "S:6.5": "US65", "S:7.25": "US725"}


def property_problems(ido: str, rec: dict[str, Any]) -> list[str]:
    """What the IDO would refuse in one inserted record, by tests/fakes/specs/infor_ido_properties.json."""
    spec = SPEC[ido]
    out = [f"Property {f} is required." for f in spec["required"] if rec.get(f) in (None, "")]
    for name, value in rec.items():
        prop = spec["properties"].get(name)
        if prop is None:
            out.append(f"Property {name} is not a property of IDO {ido}.")
            continue
        if value is None:
            if not prop.get("nullable"):
                out.append(f"Property {name} cannot be null.")
        elif not isinstance(value, str):
            out.append(f"Property {name}: IDO property values must be strings")
        elif "enum" in prop and value not in prop["enum"]:
            out.append(f"Property {name}: {value!r} is not valid.")
        elif prop.get("type") == "date" and not _MDATE.match(value):
            out.append(f"Property {name}: dates must be in the Mongoose format yyyyMMdd HH:mm:ss.fff.")
        elif prop.get("type") == "decimal" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            out.append(f"Property {name}: {value!r} is not a decimal number.")
        elif len(value) > prop.get("maxLength", 10**6):
            out.append(f"Property {name} is longer than {prop['maxLength']} characters.")
    return out


def mongoose_error(message: str, code: int = 16) -> Reply:
    return Reply(200, {"Message": message, "MessageCode": code, "Success": False})


class InforFake(FakeTarget):
    target = "infor"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.distributions: list[dict[str, Any]] = []
        self.next_inv = 5000
        fd, self.ionapi_path = tempfile.mkstemp(suffix=".ionapi")
        with os.fdopen(fd, "w") as fh:
            json.dump({"ti": TENANT, "cn": "pipeline", "ci": CLIENT_ID, "cs": CLIENT_SECRET, "iu": self.url,
                       "pu": f"{self.url}/{TENANT}/as/", "oa": "authorization.oauth2", "ot": "token.oauth2",
                       "or": "revoke_token.oauth2", "ev": "U1234", "v": "1.0", "saak": SAAK, "sask": SASK}, fh)

    def env(self) -> dict[str, str]:
        return {"INVOICING_INFOR_IONAPI_FILE": self.ionapi_path, "INVOICING_INFOR_TAX_CODES": json.dumps(TAX_MAP)}

    def close(self) -> None:
        super().close()
        os.unlink(self.ionapi_path)

    def error_body(self, status: int) -> Any:
        return {"Message": {401: "Unauthorized: invalid or expired access token", 403: "Access to CSI denied",
                            429: "Throttled by ION API gateway"}.get(status, f"HTTP {status}"),
                "MessageCode": status, "Success": False}

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def handle(self, req: Req) -> Reply:
        if req.path == f"/{TENANT}/as/token.oauth2":
            form = req.form()
            self.token_requests.append(form)
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return Reply(401, {"error": "invalid_client", "error_description": "Invalid client or client credentials"})
            if form.get("grant_type") == "password" and (form.get("username"), form.get("password")) != (SAAK, SASK):
                return Reply(400, {"error": "invalid_grant", "error_description": "Invalid service account key"})
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 7200})
        prefix = f"/{TENANT}/CSI/IDORequestService/ido/"
        if not req.path.startswith(prefix):
            return Reply(404, {"Message": f"No route for {req.path}", "MessageCode": 404, "Success": False})
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return Reply(401, self.error_body(401))
        if req.headers.get("x-infor-mongooseconfig") != CONFIG:
            return mongoose_error("Configuration not specified or not found (X-Infor-MongooseConfig).", 1)
        verb, _, ido = req.path[len(prefix):].partition("/")
        if verb == "load" and req.method == "GET":
            return self._load(ido, req.query)
        if verb == "update" and req.method == "POST":
            return self._update(ido, req.json(), req.query.get("refresh") == "true")
        return Reply(404, {"Message": f"Unknown IDO request {verb}", "MessageCode": 404, "Success": False})

    def _rows(self, ido: str) -> list[dict[str, Any]] | None:
        return {"SLArinvs": list(self.created.values()), "SLArinvds": self.distributions}.get(ido)

    def _load(self, ido: str, q: dict[str, str]) -> Reply:
        rows = self._rows(ido)
        if rows is None:
            return mongoose_error(f"IDO {ido} is not defined", 2)
        conds = [re.fullmatch(r"(\w+) = '((?:[^']|'')*)'", c) for c in q.get("filter", "").split(" AND ")]
        if not all(conds) or not q.get("properties"):
            return mongoose_error(f"Invalid filter or properties: {q!r}", 3)
        eq = {m.group(1): m.group(2).replace("''", "'") for m in conds if m}
        props = q["properties"].split(",")
        items = [{**{p: r.get(p) for p in props}, "_ItemId": f"PBT=[arinv] arinv.ID=[{r.get('InvNum')}]"}
                 for r in rows if all(str(r.get(f)) == v for f, v in eq.items())][: int(q.get("recordCap", "100"))]
        return Reply(200, {"Items": items, "Message": None, "MessageCode": 0, "Success": True, "Bookmark": "<B/>"})

    def _update(self, ido: str, body: Any, refresh: bool) -> Reply:
        if self._rows(ido) is None:
            return mongoose_error(f"IDO {ido} is not defined", 2)
        records = []
        for change in body.get("Changes", []):
            if change.get("Action") != 1 or not isinstance(change.get("Properties"), list):
                return mongoose_error("Only inserts (Action 1) with Properties are supported by the fake", 4)
            rec = {p["Name"]: (None if p.get("IsNull") else p["Value"]) for p in change["Properties"]}
            problem = (property_problems(ido, rec) or [None])[0] or (
                self._check_header(rec) if ido == "SLArinvs" else self._check_dist(rec))
            if problem:
                return mongoose_error(problem)
            records.append(rec)
        if ido == "SLArinvds":
            problem = self._post_distributions(records)
            return mongoose_error(problem) if problem else Reply(200, {"Message": None, "MessageCode": 0, "Success": True,
                                                                       "RefreshItems": []})
        refreshed = []
        for rec in records:
            self.next_inv += 1
            rec["InvNum"] = str(self.next_inv)
            self.created[rec["InvNum"]] = rec
            refreshed.append({"Action": 1, "ItemId": f"PBT=[arinv] arinv.ID=[{rec['InvNum']}]",
                              "Properties": [{"Name": k, "Value": v, "Modified": False, "IsNull": v is None}
                                             for k, v in rec.items()]})
        return Reply(200, {"Message": None, "MessageCode": 0, "Success": True, "RefreshItems": refreshed if refresh else []})

    def _check_header(self, rec: dict[str, Any]) -> str | None:
        try:
            Decimal(rec["Amount"]), Decimal(rec["SalesTax"])
        except InvalidOperation:
            return "Amount and SalesTax must be decimal numbers."
        if rec["Type"] == "C":
            original = self.created.get(rec.get("ApplyToInvNum") or "")
            if original is None or original["Type"] != "I" or original["CustNum"] != rec["CustNum"]:
                return f"Apply To Invoice {rec.get('ApplyToInvNum')} is not an invoice of customer {rec['CustNum']}."
        elif rec.get("ApplyToInvNum"):
            return "Apply To Invoice is only valid for credit and debit memos."
        return None

    def _check_dist(self, rec: dict[str, Any]) -> str | None:
        if rec.get("InvNum") not in self.created:
            return f"A/R Invoice {rec.get('InvNum')} does not exist."
        if rec.get("TaxSystem"):
            rate = TAX_CODES.get(rec.get("TaxCode") or "")
            if rate is None or rec.get("Acct"):
                return f"Tax Code {rec.get('TaxCode')} is not valid (the tax account comes from the tax code)."
            expected = (Decimal(rec.get("TaxBasis") or "0") * rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if Decimal(rec["Amount"]) != expected:
                return f"Tax amount {rec['Amount']} does not match tax code {rec['TaxCode']} on {rec.get('TaxBasis')}."
        elif not rec.get("Acct"):
            return "Property Acct is required."
        return None

    def _post_distributions(self, records: list[dict[str, Any]]) -> str | None:
        by_invoice: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            by_invoice.setdefault(rec["InvNum"], []).append(rec)
        for inv_num, dists in by_invoice.items():
            head = self.created[inv_num]
            tax = sum((Decimal(d["Amount"]) for d in dists if d.get("TaxSystem")), Decimal(0))
            net = sum((Decimal(d["Amount"]) for d in dists if not d.get("TaxSystem")), Decimal(0))
            if (net, tax) != (Decimal(head["Amount"]), Decimal(head["SalesTax"])):
                return f"Distributions ({net} + tax {tax}) do not equal invoice {inv_num} ({head['Amount']} + {head['SalesTax']})."
        for inv_num, dists in by_invoice.items():
            self.distributions.extend(dists)
            head = self.created[inv_num]
            credit = head["Type"] == "C"
            self.booked[inv_num] = Booked("credit_note" if credit else "invoice",
                                          Decimal(head["Amount"]) + Decimal(head["SalesTax"]), Decimal(head["SalesTax"]),
                                          head.get("ApplyToInvNum") if credit else None)
        return None


def make_fake() -> InforFake:
    return InforFake()
