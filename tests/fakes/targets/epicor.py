"""Epicor Kinetic stand-in: REST v2 with ``X-API-Key`` + Basic, the invoicing Epicor Functions and OData look-up.

The functions ``/api/v2/efx/{Company}/InvoicingPipeline/CreateARInvoice`` and ``…/CreateARCreditMemo``
implement the input contract documented in sinks/epicor.py and checked with jsonschema against
tests/fakes/specs/epicor_function_contract.json (an AR invoice in invoice group ``GroupID``, with
``LegalNumber`` = the caller's number, refusing a number that exists, as a BLException; the tax
lines become manual ``InvcTax`` rows of the company's sales-tax codes, whose amounts per code and
rate must add up to the rate applied once to the group). ``booked``: lines plus the tax rows.
``GET /api/v2/odata/{Company}/Erp.BO.ARInvoiceSvc/ARInvoices?$filter=LegalNumber eq '…' and CreditMemo eq …``
answers ``{"@odata.context", "value": [...]}``. Errors use Epicor's REST error body
``{"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "CorrelationId"}``.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

COMPANY = "EPIC06"
API_KEY = "epicor-api-key-0d4f5a6b"
USERNAME = "integration"
PASSWORD = "kinetic-pass-81c2"
CUSTOMERS = {"C-1001", "C-1002", "C-1003", "C-1004", "C-1005", "C-2001", "C-2002", "shopify:9900000001", "shopify:9900000002"}
CONTRACT: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "epicor_function_contract.json").read_text())
#: the company's sales-tax codes and rates (SalesTax / SalesTxRate), and the mapping the sink is configured with
RATES = {("VAT", "STD"): Decimal(19), ("VAT", "ICS"): Decimal(0), ("VAT", "RC"): Decimal(0), ("VAT", "EXP"): Decimal(0),
         ("EXEMPT", "RESALE"): Decimal(0), ("NOTAX", "OOS"): Decimal(0), ("US", "MA625"): Decimal("6.25"),
         ("US", "NY4"): Decimal(4), ("US", "WA65"): Decimal("6.5"), ("US", "CA725"): Decimal("7.25")}
TAX_RATES = {"S:19": "VAT/STD", "K:0": "VAT/ICS", "AE:0": "VAT/RC", "G:0": "VAT/EXP", "E:0": "EXEMPT/RESALE",
             "O:0": "NOTAX/OOS", "S:6.25": "US/MA625", "S:4": "US/NY4", "S:6.5": "US/WA65", "S:7.25": "US/CA725"}


def contract_validator(function: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**CONTRACT[function], "$defs": CONTRACT["$defs"]})


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
                p + "PASSWORD": PASSWORD, p + "TAX_RATES": json.dumps(TAX_RATES)}

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
        efx = f"/api/v2/efx/{COMPANY}/InvoicingPipeline/"
        if req.method == "GET" and req.path == odata:
            m = re.fullmatch(r"LegalNumber eq '((?:[^']|'')*)' and CreditMemo eq (true|false)", req.query.get("$filter", ""))
            if not m:
                return epicor_error(400, f"The query specified in the URI is not valid: {req.query.get('$filter')!r}",
                                    "Microsoft.OData.ODataException")
            rows = [r for r in self.created.values()
                    if r["LegalNumber"] == m.group(1).replace("''", "'") and r["CreditMemo"] == (m.group(2) == "true")]
            select = req.query.get("$select", "").split(",")
            return Reply(200, {"@odata.context": f"{self.url}{odata}/$metadata#ARInvoices",
                               "value": [{k: r[k] for k in select if k in r} for r in rows]})
        if req.method == "POST" and req.path.startswith(efx) and req.path[len(efx):] in ("CreateARInvoice", "CreateARCreditMemo"):
            return self._create(req.path[len(efx):], json.loads(req.body, parse_float=Decimal))
        if req.path.startswith("/api/v2/efx/"):
            return epicor_error(404, "Function not found or library is not published", "Ice.Common.EpicorServerException")
        return epicor_error(404, f"Resource {req.path} not found", "Ice.Common.EpicorServerException", "Not Found")

    def _create(self, function: str, body: Any) -> Reply:
        errors = sorted(contract_validator(function).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            return epicor_error(400, f"Invalid request parameter(s): {'/'.join(map(str, errors[0].path))}: {errors[0].message}")
        if body["CustID"] not in CUSTOMERS:
            return epicor_error(400, f"Customer {body['CustID']} is not valid.")
        if any(r["LegalNumber"] == body["LegalNumber"] for r in self.created.values()):
            return epicor_error(400, f"Legal Number {body['LegalNumber']} already exists.")
        credit = function == "CreateARCreditMemo"
        if credit:
            original = self.created.get(str(body["ApplyToInvoiceNum"]))
            if original is None or original["CreditMemo"] or original["CustID"] != body["CustID"]:
                return epicor_error(400, f"Invoice {body['ApplyToInvoiceNum']} is not an invoice of {body['CustID']}.")
        groups: dict[tuple[str, str], list[Decimal]] = {}
        for i, ln in enumerate(body["Lines"], 1):
            if ln["InvoiceLine"] != i or ln["SellingShipQty"] * ln["DocUnitPrice"] != ln["DocExtPrice"]:
                return epicor_error(400, f"Line {i}: InvoiceLine must be {i} and DocExtPrice = SellingShipQty x DocUnitPrice.")
            for t in ln["TaxLines"]:
                rate = RATES.get((t["TaxCode"], t["RateCode"]))
                if rate is None or rate != t["Percent"] or t["DocTaxableAmt"] != ln["DocExtPrice"]:
                    return epicor_error(400, f"Line {i}: Sales Tax {t['TaxCode']}/{t['RateCode']} at {t['Percent']} % is not valid.")
                g = groups.setdefault((t["TaxCode"], t["RateCode"]), [Decimal(0), Decimal(0)])
                g[0] += t["DocTaxableAmt"]
                g[1] += t["DocTaxAmt"]
        for (code, rate_code), (taxable, tax) in groups.items():
            if (taxable * RATES[(code, rate_code)] / 100).quantize(Decimal("0.01"), ROUND_HALF_UP) != tax:
                return epicor_error(400, f"Tax {code}/{rate_code}: {tax} is not the rate on {taxable}.")
        lines_total = sum((ln["DocExtPrice"] for ln in body["Lines"]), Decimal(0))
        tax_total = sum((g[1] for g in groups.values()), Decimal(0))
        if (tax_total, lines_total + tax_total) != (body["DocTaxAmt"], body["DocInvoiceAmt"]):
            return epicor_error(400, "Invoice amount does not equal the lines plus tax.")
        self.next_num += 1
        self.created[str(self.next_num)] = {**body, "InvoiceNum": self.next_num, "Company": COMPANY, "CreditMemo": credit,
                                            "InvoiceRef": body.get("ApplyToInvoiceNum", 0)}
        self.booked[str(self.next_num)] = Booked("credit_note" if credit else "invoice", lines_total + tax_total, tax_total,
                                                 str(body["ApplyToInvoiceNum"]) if credit else None)
        return Reply(200, {"InvoiceNum": self.next_num, "GroupID": body["GroupID"], "LegalNumber": body["LegalNumber"]})


def make_fake() -> EpicorFake:
    return EpicorFake()
