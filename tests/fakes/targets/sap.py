"""SAP S/4HANA stand-in: Billing Document OData V4 (CreateFromSDDocument, PostToAccounting, BillingDocument,
BillingDocumentItem), Sales Order and Credit Memo Request OData V2 (read and deep create), CSRF tokens bound
to a session cookie, Basic auth.

Bodies are checked with jsonschema against tests/fakes/specs/sap_s4_sd.json (shapes [S], see there).
SAP prices the SD documents it bills, as modelled here: an item's net value is quantity × its manual
``PPR0`` price rounded to cents; its tax comes from the item's ``ProductTaxClassification1`` (the
tenant's condition records map it to an output tax code and rate, `CLASS_RATES`), rounded once per
tax code over the document (``tax_rounding = "document"``, the setting our invoices need) or per
item (``"item"``). A billing document made with ``AutomPostingToAcctgIsDisabled`` waits with
``AccountingTransferStatus`` A until ``PostToAccounting``; ``booked`` is filled when it reaches
accounting (a credit memo G2 linked to the billing document its credit memo request references).

Errors: V4 ``{"error": {"code", "message", "details"}}``; V2 ``{"error": {"code", "message": {"lang", "value"}}}``;
CSRF failure: 403 with ``X-CSRF-Token: Required`` and a plain-text body.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import dec_json

BILLING = "/sap/opu/odata4/sap/api_billingdocument/srvd_a2x/sap/billingdocument/0001/"
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
CREDIT_MEMO_REQUESTS = "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV/A_CreditMemoRequest"
USER, PASSWORD = "INVOICING_COMM_USER", "Pa55-word-SAP-comm!"
COOKIE = "SAP_SESSIONID_S4H_100"
SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "sap_s4_sd.json").read_text())
#: product tax classification → output tax rate (the tenant's MWST condition records), and the sink's mapping
CLASS_RATES = {"1": Decimal(19), "2": Decimal(0), "3": Decimal(0), "4": Decimal(0), "5": Decimal(0), "6": Decimal(0),
               "7": Decimal("6.25"), "8": Decimal(4), "9": Decimal("6.5"), "A": Decimal("7.25")}
TAX_CLASSES = {"S:19": "1", "K:0": "2", "AE:0": "3", "G:0": "4", "E:0": "5", "O:0": "6", "S:6.25": "7", "S:4": "8",
               "S:6.5": "9", "S:7.25": "A"}
ID_MAP = {"customer:*": "1000100", "item:*": "SRV-GENERIC", "item:KS-TANK-500": "KS-TANK-500"}


def spec_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SPEC[name])


def v4_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "target": "", "details": []}}


def v2_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": {"lang": "en", "value": message}}}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class FakeSap(FakeTarget):
    target = "sap"

    def __init__(self) -> None:
        super().__init__()
        self.sales_orders: dict[str, dict[str, Any]] = {
            "4711": {"ref": None, "sold_to": "1000100", "currency": "EUR", "billed": None,
                     "items": [{"qty": Decimal(2), "price": Decimal("500.00"), "class": "1"}]}}
        self.credit_memo_requests: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}  # session id → CSRF token
        self.tax_rounding = "document"
        self.next_doc, self.next_so, self.next_cmr = 90000000, 20000, 60000000

    def env(self) -> dict[str, str]:
        p = "INVOICING_SAP_"
        return {p + "BASE_URL": self.url, p + "USERNAME": USER, p + "PASSWORD": PASSWORD,
                p + "TAX_CLASSES": json.dumps(TAX_CLASSES), p + "ID_MAP": json.dumps(ID_MAP), p + "ORDER_REASON": "002",
                p + "SALES_ORGANIZATION": "1010", p + "DISTRIBUTION_CHANNEL": "10", p + "DIVISION": "00"}

    def error_body(self, status: int) -> Any:
        return v4_error(f"/IWBEP/CM_V4H_RUN/{status:03d}", f"Injected HTTP {status}")

    def expire_csrf(self) -> None:
        self.sessions.clear()

    def replicate(self, order_key: str, invoice: dict[str, Any], sales_order: str) -> None:
        """The tenant's own replication of a web-shop order into SD (items priced as our lines)."""
        self.sales_orders[sales_order] = {"ref": order_key, "sold_to": "1000100", "currency": invoice["currency"], "billed": None,
                                          "items": [{"qty": ln["quantity"], "price": ln["unit_price"],
                                                     "class": TAX_CLASSES[f"{ln['tax_category']}:{ln['tax_rate'].normalize():f}"]}
                                                    for ln in invoice["lines"]]}

    # -- routing ----------------------------------------------------------------------
    def handle(self, req: Req) -> Reply:
        if req.headers.get("authorization") != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            return Reply(401, b"<html><body>Logon failed</body></html>", content_type="text/html")
        if req.method == "GET" and req.path == BILLING:
            headers = {}
            if req.headers.get("x-csrf-token", "").lower() == "fetch":
                sid = secrets.token_hex(8)
                self.sessions[sid] = secrets.token_urlsafe(16)
                headers = {"X-CSRF-Token": self.sessions[sid], "Set-Cookie": f"{COOKIE}={sid}; path=/; HttpOnly"}
            return Reply(200, {"@odata.context": "$metadata", "value": [{"name": "BillingDocument", "url": "BillingDocument"}]},
                         headers)
        if req.method == "POST" and not self._csrf_ok(req):
            return Reply(403, b"CSRF token validation failed", {"X-CSRF-Token": "Required"}, content_type="text/plain")
        if req.path in (SALES_ORDERS, CREDIT_MEMO_REQUESTS):
            table = self.sales_orders if req.path == SALES_ORDERS else self.credit_memo_requests
            if req.method == "GET":
                return self._v2_query(req, table, "SalesOrder" if req.path == SALES_ORDERS else "CreditMemoRequest")
            return self._create_sales_order(req) if req.path == SALES_ORDERS else self._create_credit_memo_request(req)
        if req.method == "GET" and req.path == BILLING + "BillingDocumentItem":
            m = re.fullmatch(r"ReferenceSDDocument eq '(\w+)'", req.query.get("$filter", ""))
            if not m:
                return Reply(400, v4_error("/IWBEP/CM_V4_RUN/012", "Invalid $filter"))
            rows = [{"BillingDocument": n, "BillingDocumentItem": "10", "ReferenceSDDocument": m.group(1)}
                    for n, d in self.documents.items() if m.group(1) in d["refs"]]
            return Reply(200, {"@odata.context": "$metadata#BillingDocumentItem", "value": rows})
        m = re.fullmatch(re.escape(BILLING) + r"BillingDocument\('(\w+)'\)(/SAP__self\.PostToAccounting)?", req.path)
        if m and m.group(1) not in self.documents:
            return Reply(404, v4_error("/IWBEP/CM_V4_RUN/005", f"Billing document {m.group(1)} does not exist"))
        if m and req.method == "GET" and not m.group(2):
            return Reply(200, {"@odata.context": "$metadata#BillingDocument/$entity", **self._entity(m.group(1))})
        if m and req.method == "POST" and m.group(2):
            return self._post_to_accounting(m.group(1))
        if req.method == "POST" and req.path == BILLING + "BillingDocument/SAP__self.CreateFromSDDocument":
            return self._bill(dec_json(req))
        return Reply(404, v4_error("/IWBEP/CM_V4_RUN/005", f"Resource not found for segment '{req.path}'"))

    def _csrf_ok(self, req: Req) -> bool:
        m = re.search(COOKIE + r"=(\w+)", req.headers.get("cookie", ""))
        return bool(m) and self.sessions.get(m.group(1)) == req.headers.get("x-csrf-token")

    # -- SD documents (OData V2) -----------------------------------------------------------
    def _v2_query(self, req: Req, table: dict[str, dict[str, Any]], key: str) -> Reply:
        m = re.fullmatch(r"PurchaseOrderByCustomer eq '([^']*)'", req.query.get("$filter", ""))
        if not m or req.query.get("$format") != "json":
            return Reply(400, v2_error("/IWBEP/CM_MGW_RT/022", "Invalid query"))
        rows = [{"__metadata": {"type": f"A_{key}Type"}, key: n} for n, o in table.items() if o["ref"] == m.group(1)]
        return Reply(200, {"d": {"results": rows}})

    def _items(self, body: dict[str, Any], currency: str) -> list[dict[str, Any]] | str:
        items = []
        for it in body["to_Item"]:
            prices = [p for p in it.get("to_PricingElement", []) if p["ConditionType"] == "PPR0"]
            if len(prices) != 1 or prices[0]["ConditionCurrency"] != currency:
                return f"Item {it.get('Material')}: exactly one manual price PPR0 in {currency} is required"
            if it.get("ProductTaxClassification1") not in CLASS_RATES:
                return f"Item {it.get('Material')}: no output tax condition for tax classification {it.get('ProductTaxClassification1')!r}"
            items.append({"qty": Decimal(it["RequestedQuantity"]), "price": Decimal(prices[0]["ConditionRateValue"]),
                          "class": it["ProductTaxClassification1"]})
        return items

    def _create_sales_order(self, req: Req) -> Reply:
        body = json.loads(req.body)
        errors = list(spec_validator("A_SalesOrder").iter_errors(body))
        if errors:
            return Reply(400, v2_error("/IWBEP/CM_MGW_RT/004", f"{'/'.join(map(str, errors[0].path))}: {errors[0].message}"))
        items = self._items(body, body.get("TransactionCurrency", ""))
        if isinstance(items, str):
            return Reply(400, v2_error("V1/320", items))
        self.next_so += 1
        so = str(self.next_so)
        self.sales_orders[so] = {"ref": body.get("PurchaseOrderByCustomer"), "sold_to": body["SoldToParty"],
                                 "currency": body["TransactionCurrency"], "billed": None, "items": items}
        return Reply(201, {"d": {"__metadata": {"type": "API_SALES_ORDER_SRV.A_SalesOrderType"}, "SalesOrder": so}})

    def _create_credit_memo_request(self, req: Req) -> Reply:
        body = json.loads(req.body)
        errors = list(spec_validator("A_CreditMemoRequest").iter_errors(body))
        if errors:
            return Reply(400, v2_error("/IWBEP/CM_MGW_RT/004", f"{'/'.join(map(str, errors[0].path))}: {errors[0].message}"))
        original = self.documents.get(body.get("ReferenceSDDocument", ""))
        if original is None or original["category"] != "M" or body.get("ReferenceSDDocumentCategory") != "M" \
                or original["sold_to"] != body["SoldToParty"]:
            return Reply(400, v2_error("V1/045", f"Reference document {body.get('ReferenceSDDocument')} is not an invoice "
                                                f"of sold-to party {body['SoldToParty']}"))
        items = self._items(body, body.get("TransactionCurrency", ""))
        if isinstance(items, str):
            return Reply(400, v2_error("V1/320", items))
        self.next_cmr += 1
        cmr = str(self.next_cmr)
        self.credit_memo_requests[cmr] = {"ref": body.get("PurchaseOrderByCustomer"), "sold_to": body["SoldToParty"],
                                          "currency": body["TransactionCurrency"], "billed": None, "items": items,
                                          "reference": body["ReferenceSDDocument"]}
        return Reply(201, {"d": {"__metadata": {"type": "API_CREDIT_MEMO_REQUEST_SRV.A_CreditMemoRequestType"},
                                 "CreditMemoRequest": cmr}})

    # -- billing (OData V4) ---------------------------------------------------------------
    def _bill(self, body: Any) -> Reply:
        if list(spec_validator("CreateFromSDDocument").iter_errors(body)):
            return Reply(400, v4_error("/IWBEP/CM_V4_RUN/034", "Invalid _Control or _Reference parameters"))
        ctl, sources = body["_Control"], []
        for ref in body["_Reference"]:
            table = {"C": self.sales_orders, "K": self.credit_memo_requests}.get(ref["SDDocumentCategory"], {})
            src = table.get(str(ref["SDDocument"]))
            if src is None:
                return Reply(400, v4_error("VF/016", f"Document {ref['SDDocument']} is not relevant for billing"))
            if src["billed"]:
                return Reply(400, v4_error("VF/017", f"The document {ref['SDDocument']} is already completely billed"))
            sources.append(src)
        credit = body["_Reference"][0]["SDDocumentCategory"] == "K"
        if (ctl["DefaultBillingDocumentType"] == "G2") != credit or len({s["currency"] for s in sources}) != 1:
            return Reply(400, v4_error("VF/019", "Billing type does not fit the referenced documents"))
        net, raw, tax_items = Decimal(0), {}, Decimal(0)
        for it in (it for s in sources for it in s["items"]):
            value = _cents(it["qty"] * it["price"])
            net += value
            raw[it["class"]] = raw.get(it["class"], Decimal(0)) + value * CLASS_RATES[it["class"]] / 100
            tax_items += _cents(value * CLASS_RATES[it["class"]] / 100)
        tax = tax_items if self.tax_rounding == "item" else sum((_cents(v) for v in raw.values()), Decimal(0))
        self.next_doc += 1
        doc = str(self.next_doc)
        for ref, src in zip(body["_Reference"], sources):
            src["billed"] = doc
        self.documents[doc] = {"type": ctl["DefaultBillingDocumentType"], "category": "O" if credit else "M",
                               "net": net, "tax": tax, "currency": sources[0]["currency"], "sold_to": sources[0]["sold_to"],
                               "date": ctl.get("DefaultBillingDocumentDate"), "posted": False,
                               "refs": [str(r["SDDocument"]) for r in body["_Reference"]],
                               "linked_to": sources[0].get("reference") if credit else None, "_Control": ctl}
        self.created[doc] = self.documents[doc]
        if not ctl["AutomPostingToAcctgIsDisabled"]:
            self._post_to_accounting(doc)
        return Reply(200, {"@odata.context": "$metadata#Collection(com.sap.gateway.srvd_a2x.api_billingdocument.v0001.BillingDocumentType)",
                           "value": [self._entity(doc)]})

    def _entity(self, doc: str) -> dict[str, Any]:
        d = self.documents[doc]
        return {"BillingDocument": doc, "BillingDocumentType": d["type"], "SDDocumentCategory": d["category"],
                "BillingDocumentDate": d["date"], "TransactionCurrency": d["currency"], "TotalNetAmount": str(d["net"]),
                "TotalTaxAmount": str(d["tax"]), "AccountingTransferStatus": "C" if d["posted"] else "A"}

    def _post_to_accounting(self, doc: str) -> Reply:
        d = self.documents[doc]
        if d["posted"]:
            return Reply(400, v4_error("VF/051", f"Billing document {doc} is already posted to accounting"))
        d["posted"] = True
        self.booked[doc] = Booked("credit_note" if d["category"] == "O" else "invoice", d["net"] + d["tax"], d["tax"],
                                  d["linked_to"])
        return Reply(200, {"@odata.context": "$metadata#BillingDocument/$entity", **self._entity(doc)})


def make_fake() -> FakeSap:
    return FakeSap()
