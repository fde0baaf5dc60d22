"""Epicor Kinetic stand-in: REST v2 with ``X-API-Key`` + Basic, the invoicing Epicor Function and OData look-up.

The function ``/api/v2/efx/{Company}/InvoicingPipeline/CreateARInvoice`` implements the input
contract documented in sinks/epicor.py (an AR invoice in invoice group ``GroupID``, with
``LegalNumber`` = the caller's number, refusing a number that exists, as a BLException).
``GET /api/v2/odata/{Company}/Erp.BO.ARInvoiceSvc/ARInvoices?$filter=LegalNumber eq '…'``
answers ``{"@odata.context", "value": [...]}``. Errors use Epicor's REST error body
``{"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "CorrelationId"}``.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

COMPANY = "EPIC06"
API_KEY = "epicor-api-key-0d4f5a6b"
USERNAME = "integration"
PASSWORD = "kinetic-pass-81c2"
CUSTOMERS = {"C-1001", "C-1002", "C-1003", "C-1004", "C-1005", "C-2001", "C-2002", "shopify:9900000001", "shopify:9900000002"}


def epicor_error(status: int, message: str, error_type: str = "Ice.BLException", reason: str = "REST API Exception") -> Reply:
    return Reply(status, {"HttpStatus": status, "ReasonPhrase": reason, "ErrorMessage": message,
                          "ErrorType": error_type, "CorrelationId": str(uuid.uuid4())})


class EpicorFake(FakeTarget):
    target = "epicor"

    def __init__(self) -> None:
        super().__init__()
        self.next_num = 100200

    def env(self) -> dict[str, str]:
        p = "INVOICING_EPICOR_"
        return {p + "BASE_URL": self.url, p + "TENANT": COMPANY, p + "API_KEY": API_KEY, p + "USERNAME": USERNAME,
                p + "PASSWORD": PASSWORD}

    def error_body(self, status: int) -> Any:
        kinds = {401: ("Unauthorized", "Ice.Common.AuthenticationException"), 403: ("Access denied to ARInvoiceSvc",
                 "Ice.Common.SecurityException"), 429: ("Too many requests", "Ice.Common.ThrottlingException")}
        msg, kind = kinds.get(status, (f"HTTP {status}", "Ice.BLException"))
        return epicor_error(status, msg, kind).body

    def handle(self, req: Req) -> Reply:
        if req.headers.get("x-api-key") != API_KEY:
            return epicor_error(401, "Invalid or missing API Key", "Ice.Common.AuthenticationException", "Unauthorized")
        good = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if req.headers.get("authorization") != good:
            return epicor_error(401, "Invalid user ID or password.", "Ice.Common.AuthenticationException", "Unauthorized")
        odata = f"/api/v2/odata/{COMPANY}/Erp.BO.ARInvoiceSvc/ARInvoices"
        efx = f"/api/v2/efx/{COMPANY}/InvoicingPipeline/CreateARInvoice"
        if req.method == "GET" and req.path == odata:
            m = re.fullmatch(r"LegalNumber eq '((?:[^']|'')*)'", req.query.get("$filter", ""))
            if not m:
                return epicor_error(400, f"The query specified in the URI is not valid: {req.query.get('$filter')!r}",
                                    "Microsoft.OData.ODataException")
            rows = [r for r in self.created.values() if r["LegalNumber"] == m.group(1).replace("''", "'")]
            select = req.query.get("$select", "").split(",")
            return Reply(200, {"@odata.context": f"{self.url}{odata}/$metadata#ARInvoices",
                               "value": [{k: r[k] for k in select if k in r} for r in rows]})
        if req.method == "POST" and req.path == efx:
            return self._create(json.loads(req.body, parse_float=Decimal))
        if req.path.startswith("/api/v2/efx/"):
            return epicor_error(404, "Function not found or library is not published", "Ice.Common.EpicorServerException")
        return epicor_error(404, f"Resource {req.path} not found", "Ice.Common.EpicorServerException", "Not Found")

    def _create(self, body: dict[str, Any]) -> Reply:
        required = ("LegalNumber", "CustID", "InvoiceDate", "DueDate", "CurrencyCode", "GroupID", "Lines")
        missing = [f for f in required if not body.get(f)]
        if missing:
            return epicor_error(400, f"Missing request parameter(s): {', '.join(missing)}")
        if body["CustID"] not in CUSTOMERS:
            return epicor_error(400, f"Customer {body['CustID']} is not valid.")
        if len(body["GroupID"]) > 8:
            return epicor_error(400, "Group ID cannot exceed 8 characters.")
        for i, ln in enumerate(body["Lines"], 1):
            for f in ("SellingShipQty", "DocUnitPrice", "DocExtPrice", "TaxPercent"):
                if not isinstance(ln.get(f), (int, Decimal)):
                    return epicor_error(400, f"Line {i}: {f} must be a number.")
            if ln.get("InvoiceLine") != i or not ln.get("LineDesc"):
                return epicor_error(400, f"Line {i}: InvoiceLine and LineDesc are required.")
        if any(r["LegalNumber"] == body["LegalNumber"] for r in self.created.values()):
            return epicor_error(400, f"Legal Number {body['LegalNumber']} already exists.")
        self.next_num += 1
        lines_total = sum(ln["DocExtPrice"] for ln in body["Lines"])
        if lines_total + Decimal(body.get("DocTaxAmt", 0)) != Decimal(body.get("DocInvoiceAmt", 0)):
            return epicor_error(400, "Invoice amount does not equal the lines plus tax.")
        self.created[str(self.next_num)] = {**body, "InvoiceNum": self.next_num, "Company": COMPANY}
        return Reply(200, {"InvoiceNum": self.next_num, "GroupID": body["GroupID"], "LegalNumber": body["LegalNumber"]})


def make_fake() -> EpicorFake:
    return EpicorFake()
