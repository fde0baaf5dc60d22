"""QuickBooks Online stand-in: ``/v3/company/{realmId}/invoice|salesreceipt|customer|query`` and the Intuit token endpoint.

Checks the body against the element names of the QuickBooks v3 schema
(intuit/QuickBooks-V3-Java-SDK ``Finance.xsd``: Invoice → SalesTransaction → Transaction,
Line/SalesItemLineDetail, TxnTaxDetail/TaxLineDetail, ReferenceType ``{value, name}``),
with numbers as JSON numbers, ``minorversion`` ≥ 75 and ``requestid`` ≤ 50 chars.
Semantics as documented: a repeated ``requestid`` returns the original response,
``DocNumber`` ≤ 21 chars and unique (6140 "Duplicate Document Number Error"),
error bodies ``Fault.Error[].Message/Detail/code`` (401: the lower-case ``fault`` shape).
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer

__all__ = ["QuickBooksFake", "make_fake", "REALM"]

REALM = "9130357992221046"
CLIENT_ID = "qbo-client"
TIME = "2026-11-24T01:00:00.000-08:00"
_REF = {"value", "name", "type"}
_INVOICE = {"Id", "SyncToken", "MetaData", "CustomField", "DocNumber", "TxnDate", "DepartmentRef", "CurrencyRef",
            "ExchangeRate", "PrivateNote", "TxnStatus", "LinkedTxn", "Line", "TxnTaxDetail", "CustomerRef",
            "CustomerMemo", "BillAddr", "ShipAddr", "FreeFormAddress", "ShipFromAddr", "ClassRef", "SalesTermRef",
            "DueDate", "GlobalTaxCalculation", "ShipMethodRef", "ShipDate", "TrackingNum", "PrintStatus", "EmailStatus",
            "BillEmail", "BillEmailCc", "BillEmailBcc", "ApplyTaxAfterDiscount", "Deposit", "DepositToAccountRef",
            "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment", "TotalAmt", "HomeTotalAmt", "Balance",
            "HomeBalance", "DeliveryInfo", "TransactionLocationType", "ProjectRef"}
#: SalesReceipt → SalesTransaction: no DueDate, balance or online-payment fields; payment fields instead
_SALES_RECEIPT = (_INVOICE - {"DueDate", "Balance", "HomeBalance", "Deposit", "AllowOnlineCreditCardPayment",
                              "AllowOnlineACHPayment", "SalesTermRef"}) | {"PaymentMethodRef", "PaymentRefNum",
                                                                          "CreditCardPayment"}
_LINE = {"Id", "LineNum", "Description", "Amount", "LinkedTxn", "DetailType", "SalesItemLineDetail",
         "DiscountLineDetail", "SubTotalLineDetail", "GroupLineDetail", "DescriptionLineDetail", "CustomField"}
_SALES_DETAIL = {"ServiceDate", "ItemRef", "ClassRef", "UnitPrice", "RatePercent", "PriceLevelRef", "MarkupInfo",
                 "Qty", "UOMRef", "ItemAccountRef", "TaxCodeRef", "TaxClassificationRef", "TaxInclusiveAmt",
                 "DiscountRate", "DiscountAmt"}
_TAX = {"TxnTaxCodeRef", "TotalTax", "TaxLine"}
_TAX_LINE = {"Id", "LineNum", "Description", "Amount", "DetailType", "TaxLineDetail"}
_TAX_LINE_DETAIL = {"TaxRateRef", "PercentBased", "TaxPercent", "NetAmountTaxable", "TaxInclusiveAmount",
                    "OverrideDeltaAmount", "ServiceDate"}
_CUSTOMER = {"DisplayName", "CompanyName", "GivenName", "FamilyName", "PrimaryEmailAddr", "CurrencyRef",
             "BillAddr", "ShipAddr", "Notes", "PrimaryPhone"}


def fault(code: str, message: str, detail: str = "", kind: str = "ValidationFault") -> dict[str, Any]:
    return {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": kind},
            "time": TIME}


def _keys(obj: Any, allowed: set[str], where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} must be an object"]
    return [f"Property Name:Unrecognized field \"{k}\" in {where}" for k in obj if k not in allowed]


def _number(v: Any) -> bool:
    return isinstance(v, (Decimal, int)) and not isinstance(v, bool)


class QuickBooksFake(FakeTarget):
    target = "quickbooks"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, SECRET, REFRESH, basic=True)
        self.replies: dict[str, Reply] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self._ids = 129

    def env(self) -> dict[str, str]:
        p = "INVOICING_QUICKBOOKS_"
        return {p + "BASE_URL": self.url, p + "TOKEN_URL": f"{self.url}/oauth2/v1/tokens/bearer", p + "CLIENT_ID": CLIENT_ID,
                p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH, p + "TENANT": REALM}

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

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth2/v1/tokens/bearer" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return Reply(401, self.error_body(401))
        m = re.fullmatch(r"/v3/company/([^/]+)/(invoice|salesreceipt|customer|query)", req.path)
        if not m:
            return Reply(404, fault("610", "Object Not Found", req.path))
        if m.group(1) != REALM:
            return Reply(403, self.error_body(403))
        if int(req.query.get("minorversion", "0")) < 75:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "minorversion must be >= 75"))
        if m.group(2) == "query":
            return self._query(req.query.get("query", ""))
        rid = req.query.get("requestid", "")
        if len(rid) > 50:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "requestid longer than 50"))
        if rid and (m.group(2), rid) in self.replies:
            return self.replies[(m.group(2), rid)]  # type: ignore[index]
        try:
            body = json.loads(req.body, parse_float=Decimal)
        except ValueError:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "invalid JSON"))
        entity = {"invoice": "Invoice", "salesreceipt": "SalesReceipt"}.get(m.group(2))
        reply = self._invoice(body, entity) if entity else self._customer(body)
        if rid:
            self.replies[(m.group(2), rid)] = reply  # type: ignore[index]
        return reply

    def _query(self, sql: str) -> Reply:
        q = re.fullmatch(r"select \* from (Invoice|SalesReceipt|Customer) where (DocNumber|DisplayName) = '((?:[^'\\]|\\.)*)'", sql.strip())
        if not q:
            return Reply(400, fault("4000", "Error parsing query", f"QueryParserError: {sql}"))
        entity, field, value = q.group(1), q.group(2), re.sub(r"\\(.)", r"\1", q.group(3))
        pool = ([d for d in self.created.values() if d["_entity"] == entity] if entity != "Customer"
                else list(self.customers.values()))
        rows = [{k: v for k, v in r.items() if k != "_entity"} for r in pool if r.get(field) == value]
        resp: dict[str, Any] = {"startPosition": 1, "maxResults": len(rows)} if rows else {}
        if rows:
            resp[entity] = rows
        return Reply(200, {"QueryResponse": resp, "time": TIME})

    def _customer(self, body: dict[str, Any]) -> Reply:
        problems = _keys(body, _CUSTOMER, "Customer")
        if not body.get("DisplayName"):
            problems.append("DisplayName is required")
        if any(c["DisplayName"] == body.get("DisplayName") for c in self.customers.values()):
            return Reply(400, fault("6240", "Duplicate Name Exists Error", "The name supplied already exists."))
        if problems:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "; ".join(problems)))
        cid = self._id()
        self.customers[cid] = dict(body, Id=cid, SyncToken="0")
        return Reply(200, {"Customer": self.customers[cid], "time": TIME})

    def _invoice(self, body: dict[str, Any], entity: str = "Invoice") -> Reply:
        allowed = _INVOICE if entity == "Invoice" else _SALES_RECEIPT
        problems = _keys(body, allowed, entity) + _keys(body.get("TxnTaxDetail", {}), _TAX, "TxnTaxDetail")
        for name in ("CustomerRef", "CurrencyRef"):
            problems += _keys(body.get(name, {}), _REF, name)
        if not (body.get("CustomerRef") or {}).get("value") in self.customers:
            problems.append("Invalid Reference Id : Customer assigned to this transaction has been deleted or is invalid")
        if not body.get("Line"):
            problems.append("Required parameter Line is missing in the request")
        for line in body.get("Line") or []:
            problems += _keys(line, _LINE, "Line")
            detail = line.get("SalesItemLineDetail", {})
            problems += _keys(detail, _SALES_DETAIL, "SalesItemLineDetail")
            if line.get("DetailType") != "SalesItemLineDetail" or not (detail.get("ItemRef") or {}).get("value"):
                problems.append("SalesItemLineDetail with ItemRef is required")
            if not all(_number(v) for v in (line.get("Amount"), detail.get("Qty"), detail.get("UnitPrice"))):
                problems.append("Amount, Qty and UnitPrice must be numbers")
            elif (detail["Qty"] * detail["UnitPrice"]).quantize(Decimal("0.01")) != line["Amount"]:
                problems.append("Amount is not equal to UnitPrice * Qty")
        for tl in body.get("TxnTaxDetail", {}).get("TaxLine") or []:
            problems += _keys(tl, _TAX_LINE, "TaxLine") + _keys(tl.get("TaxLineDetail", {}), _TAX_LINE_DETAIL, "TaxLineDetail")
        if problems:
            return Reply(400, fault("2010", "Request has invalid or unsupported property", "; ".join(problems)))
        number = str(body.get("DocNumber", ""))
        if len(number) > 21:
            return Reply(400, fault("6000", "A business validation error has occurred while processing your request",
                                    "Business Validation Error: DocNumber is too long (max 21)"))
        if any(d["DocNumber"] == number for d in self.created.values()):
            return Reply(400, fault("6140", "Duplicate Document Number Error",
                                    f"Duplicate Document Number Error : You must specify a different number. "
                                    f"This number has already been used. DocNumber={number}"))
        iid = self._id()
        subtotal = sum((ln["Amount"] for ln in body["Line"]), Decimal(0))
        tax = Decimal(body.get("TxnTaxDetail", {}).get("TotalTax", 0))
        stored = dict(body, Id=iid, SyncToken="0", TotalAmt=subtotal + tax, _entity=entity)
        if entity == "Invoice":
            stored["Balance"] = subtotal + tax
        self.created[iid] = json.loads(json.dumps(stored, default=str))
        return Reply(200, {entity: {k: v for k, v in self.created[iid].items() if k != "_entity"}, "time": TIME})


def make_fake() -> QuickBooksFake:
    return QuickBooksFake()
