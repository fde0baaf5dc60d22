"""Infor CSI stand-in: ION API gateway (OAuth2 token, tenant-prefixed routes) in front of Mongoose IDO REST.

Token: ``POST /{ti}/as/token.oauth2`` (password grant with the .ionapi service-account keys
``saak``/``sask``, or client credentials). IDO calls need the Bearer token and
``X-Infor-MongooseConfig``: ``GET /{ti}/CSI/IDORequestService/ido/load/{IDO}?properties=&filter=``
→ ``{"Items": [...], "Message", "MessageCode", "Success", "Bookmark"}``;
``POST …/ido/update/{IDO}`` with ``{"Changes": [{"Action": 1, "ItemId", "Properties": [{"Name",
"Value", "Modified", "IsNull"}]}]}``. IDO failures answer ``{"Message", "MessageCode", "Success": false}``
(HTTP 200, as Mongoose does for business errors); gateway failures use HTTP status codes.
The fake writes a ``.ionapi`` file and points the sink at it.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

TENANT = "KOMPRESSOR_TST"
CLIENT_ID = "KOMPRESSOR_TST~pipeline"
CLIENT_SECRET = "ion-client-secret-5e6f"
SAAK = "KOMPRESSOR_TST#service-account-key"
SASK = "service-account-secret-a1b2c3"
CONFIG = "CSI_DALS"
_MDATE = re.compile(r"^\d{8} 00:00:00\.000$")


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
        return {"INVOICING_INFOR_IONAPI_FILE": self.ionapi_path}

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
        m = re.fullmatch(r"(\w+) = '((?:[^']|'')*)'", q.get("filter", ""))
        if not m or not q.get("properties"):
            return mongoose_error(f"Invalid filter or properties: {q!r}", 3)
        field, value = m.group(1), m.group(2).replace("''", "'")
        props = q["properties"].split(",")
        items = [{**{p: r.get(p) for p in props}, "_ItemId": f"PBT=[arinv] arinv.ID=[{r.get('InvNum')}]"}
                 for r in rows if str(r.get(field)) == value][: int(q.get("recordCap", "100"))]
        return Reply(200, {"Items": items, "Message": None, "MessageCode": 0, "Success": True, "Bookmark": "<B/>"})

    def _update(self, ido: str, body: Any, refresh: bool) -> Reply:
        if self._rows(ido) is None:
            return mongoose_error(f"IDO {ido} is not defined", 2)
        refreshed = []
        for change in body.get("Changes", []):
            if change.get("Action") != 1 or not isinstance(change.get("Properties"), list):
                return mongoose_error("Only inserts (Action 1) with Properties are supported by the fake", 4)
            rec = {p["Name"]: (None if p.get("IsNull") else p["Value"]) for p in change["Properties"]}
            if any(not isinstance(v, (str, type(None))) for v in rec.values()):
                return mongoose_error("IDO property values must be strings", 5)
            problem = self._check_header(rec) if ido == "SLArinvs" else self._check_dist(rec)
            if problem:
                return mongoose_error(problem)
            if ido == "SLArinvs":
                self.next_inv += 1
                rec["InvNum"] = str(self.next_inv)
                self.created[rec["InvNum"]] = rec
                refreshed.append({"Action": 1, "ItemId": f"PBT=[arinv] arinv.ID=[{rec['InvNum']}]",
                                  "Properties": [{"Name": k, "Value": v, "Modified": False, "IsNull": v is None}
                                                 for k, v in rec.items()]})
            else:
                self.distributions.append(rec)
        return Reply(200, {"Message": None, "MessageCode": 0, "Success": True, "RefreshItems": refreshed if refresh else []})

    def _check_header(self, rec: dict[str, Any]) -> str | None:
        for f in ("CustNum", "Type", "InvDate", "DueDate", "Amount", "SalesTax", "Ref"):
            if not rec.get(f):
                return f"Property {f} is required."
        if rec["Type"] not in ("I", "C", "D"):
            return f"Type {rec['Type']} is not valid."
        if not (_MDATE.match(rec["InvDate"]) and _MDATE.match(rec["DueDate"])):
            return "Dates must be in the Mongoose format yyyyMMdd HH:mm:ss.fff."
        if len(rec["Ref"]) > 30:
            return "Ref is longer than 30 characters."
        try:
            Decimal(rec["Amount"]), Decimal(rec["SalesTax"])
        except InvalidOperation:
            return "Amount and SalesTax must be decimal numbers."
        return None

    def _check_dist(self, rec: dict[str, Any]) -> str | None:
        if rec.get("InvNum") not in self.created:
            return f"A/R Invoice {rec.get('InvNum')} does not exist."
        for f in ("Acct", "Amount", "DistSeq"):
            if not rec.get(f):
                return f"Property {f} is required."
        return None


def make_fake() -> InforFake:
    return InforFake()
