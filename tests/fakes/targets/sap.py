"""SAP S/4HANA stand-in: Billing Document OData V4 (CreateFromSDDocument, BillingDocumentItem),
Sales Order OData V2 (A_SalesOrder read), CSRF tokens bound to a session cookie, Basic auth.

Errors: V4 ``{"error": {"code", "message", "details"}}``; V2 ``{"error": {"code", "message": {"lang", "value"}}}``;
CSRF failure: 403 with ``X-CSRF-Token: Required`` and a plain-text body.
"""
from __future__ import annotations

import base64
import re
import secrets
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import dec_json

BILLING = "/sap/opu/odata4/sap/api_billingdocument/srvd_a2x/sap/billingdocument/0001/"
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
USER, PASSWORD = "INVOICING_COMM_USER", "Pa55-word-SAP-comm!"
COOKIE = "SAP_SESSIONID_S4H_100"


def v4_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "target": "", "details": []}}


class FakeSap(FakeTarget):
    target = "sap"

    def __init__(self) -> None:
        super().__init__()
        # SD sales orders: one native, and the web-shop orders the tenant replicates into SD
        self.sales_orders: dict[str, dict[str, Any]] = {"4711": {"ref": None, "net": Decimal("1000.00"), "billed": None}}
        for n in range(1, 60):
            self.sales_orders[str(10000 + n)] = {"ref": f"shopify:{5800000000000 + n}", "net": None, "billed": None}
        self.sessions: dict[str, str] = {}  # session id → CSRF token
        self.next_doc = 90000000

    def env(self) -> dict[str, str]:
        p = "INVOICING_SAP_"
        return {p + "BASE_URL": self.url, p + "USERNAME": USER, p + "PASSWORD": PASSWORD}

    def error_body(self, status: int) -> Any:
        return v4_error(f"/IWBEP/CM_V4H_RUN/{status:03d}", f"Injected HTTP {status}")

    def expire_csrf(self) -> None:
        self.sessions.clear()

    def handle(self, req: Req) -> Reply:
        if req.headers.get("authorization") != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            return Reply(401, b"<html><body>Logon failed</body></html>", content_type="text/html")
        if req.method == "GET" and req.path == SALES_ORDERS:
            return self.sales_order_query(req)
        if req.method == "GET" and req.path == BILLING:
            headers = {}
            if req.headers.get("x-csrf-token", "").lower() == "fetch":
                sid = secrets.token_hex(8)
                self.sessions[sid] = secrets.token_urlsafe(16)
                headers = {"X-CSRF-Token": self.sessions[sid], "Set-Cookie": f"{COOKIE}={sid}; path=/; HttpOnly"}
            return Reply(200, {"@odata.context": "$metadata", "value": [{"name": "BillingDocument", "url": "BillingDocument"}]},
                         headers)
        if req.method == "GET" and req.path == BILLING + "BillingDocumentItem":
            m = re.fullmatch(r"ReferenceSDDocument eq '(\w+)'", req.query.get("$filter", ""))
            if not m:
                return Reply(400, v4_error("/IWBEP/CM_V4_RUN/012", "Invalid $filter"))
            so = self.sales_orders.get(m.group(1))
            rows = [{"BillingDocument": so["billed"], "BillingDocumentItem": "10", "ReferenceSDDocument": m.group(1)}] \
                if so and so["billed"] else []
            return Reply(200, {"@odata.context": "$metadata#BillingDocumentItem", "value": rows})
        if req.method == "POST" and req.path == BILLING + "BillingDocument/SAP__self.CreateFromSDDocument":
            if not self._csrf_ok(req):
                return Reply(403, b"CSRF token validation failed", {"X-CSRF-Token": "Required"}, content_type="text/plain")
            return self.create(req)
        return Reply(404, v4_error("/IWBEP/CM_V4_RUN/005", f"Resource not found for segment '{req.path}'"))

    def _csrf_ok(self, req: Req) -> bool:
        m = re.search(COOKIE + r"=(\w+)", req.headers.get("cookie", ""))
        return bool(m) and self.sessions.get(m.group(1)) == req.headers.get("x-csrf-token")

    def sales_order_query(self, req: Req) -> Reply:
        m = re.fullmatch(r"PurchaseOrderByCustomer eq '([^']*)'", req.query.get("$filter", ""))
        if not m or req.query.get("$format") != "json":
            return Reply(400, {"error": {"code": "/IWBEP/CM_MGW_RT/022", "message": {"lang": "en", "value": "Invalid query"}}})
        rows = [{"__metadata": {"type": "API_SALES_ORDER_SRV.A_SalesOrderType"}, "SalesOrder": so}
                for so, o in self.sales_orders.items() if o["ref"] == m.group(1)]
        return Reply(200, {"d": {"results": rows}})

    def create(self, req: Req) -> Reply:
        body = dec_json(req)
        ctl = body.get("_Control") if isinstance(body, dict) else None
        refs = body.get("_Reference") if isinstance(body, dict) else None
        if not isinstance(ctl, dict) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(ctl.get("DefaultBillingDocumentDate"))) \
                or not isinstance(ctl.get("DefaultBillingDocumentType"), str) \
                or not isinstance(ctl.get("AutomPostingToAcctgIsDisabled"), bool):
            return Reply(400, v4_error("/IWBEP/CM_V4_RUN/034", "Invalid _Control parameters"))
        if not isinstance(refs, list) or not refs:
            return Reply(400, v4_error("/IWBEP/CM_V4_RUN/034", "_Reference must not be empty"))
        for ref in refs:
            so = self.sales_orders.get(str(ref.get("SDDocument")))
            if so is None or ref.get("SDDocumentCategory") != "C":
                return Reply(400, v4_error("VF/016", f"Document {ref.get('SDDocument')} is not relevant for billing"))
            if so["billed"]:
                return Reply(400, v4_error("VF/017", f"The document {ref['SDDocument']} is already completely billed"))
        self.next_doc += 1
        doc = str(self.next_doc)
        for ref in refs:
            self.sales_orders[str(ref["SDDocument"])]["billed"] = doc
        entity = {"BillingDocument": doc, "BillingDocumentType": ctl["DefaultBillingDocumentType"],
                  "SDDocumentCategory": "M", "BillingDocumentDate": ctl["DefaultBillingDocumentDate"],
                  "TransactionCurrency": "EUR"}
        self.created[doc] = {**entity, "_Reference": refs, "_Control": ctl}
        return Reply(200, {"@odata.context": "$metadata#Collection(com.sap.gateway.srvd_a2x.api_billingdocument.v0001.BillingDocumentType)",
                           "value": [entity]})


def make_fake() -> FakeSap:
    return FakeSap()
