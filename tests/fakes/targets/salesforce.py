"""Salesforce stand-in: OAuth client-credentials token, Revenue Cloud Billing (generate, post, checkout, void,
standalone credit memos and their application), SOQL on Invoice and CreditMemo, sObject PATCH. Errors are
``[{"errorCode", "message"}]`` as the REST API answers. Bodies are validated with jsonschema against
tests/fakes/specs/salesforce_billing.json.

Simplifications (documented): generate is asynchronous in Salesforce; here the Invoice exists as soon as the
call returns. An Order is invoiced once. Salesforce's tax engine as modelled here: a line's tax is its amount
× the rate of its TaxTreatment; per treatment the tax is rounded once over the invoice and shared over its
lines (``tax_rounding = "document"``, the engine setting our invoices need) or rounded per line (``"line"``).
A credit memo with ``taxStrategy`` ManualOverride keeps the tax amounts it is given (within one cent of the
charge × rate [U]). ``booked``: invoices once Posted (voided ones dropped), credit memos when created, linked
when applied.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import SECRET, TokenIssuer, dec_json

V = "/services/data/v68.0"
B = V + "/commerce/invoicing"
ACCOUNT = "001SG00000mYtRWYA0"
ORDER = "801SG00000mYtaXYAS"
FIELD = "External_Invoice_Number__c"
SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "salesforce_billing.json").read_text())
#: TaxTreatment id → rate %, and the mapping the sink is configured with
TREATMENTS = {f"1ttSG00000TAX{n:05d}": rate for n, rate in enumerate(
    (Decimal(19), Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal("6.25"), Decimal(4), Decimal("6.5"),
     Decimal("7.25")))}
TAX_TREATMENTS = dict(zip(("S:19", "K:0", "AE:0", "G:0", "E:0", "O:0", "S:6.25", "S:4", "S:6.5", "S:7.25"), TREATMENTS))
_CODES = {400: "MALFORMED_QUERY", 401: "INVALID_SESSION_ID", 403: "INSUFFICIENT_ACCESS", 404: "NOT_FOUND",
          422: "FIELD_INTEGRITY_EXCEPTION", 429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION", 503: "SERVER_UNAVAILABLE"}
_BY_NUMBER = re.compile(rf"SELECT Id, DocumentNumber FROM Invoice WHERE {FIELD} = '([^']*)' LIMIT 1")
_UNSTAMPED = re.compile(rf"SELECT Id, Status, TotalAmount, TotalTaxAmount, CurrencyIsoCode FROM Invoice WHERE "
                        rf"(ReferenceEntityId|BillingAccountId) = '(\w+)' AND InvoiceDate = (\d{{4}}-\d\d-\d\d) "
                        rf"AND {FIELD} = null AND Status != 'Canceled' ORDER BY CreatedDate LIMIT 1")
_MEMO = re.compile(r"SELECT Id, Balance FROM CreditMemo WHERE ExternalReference = '([^']*)' LIMIT 1")


def spec_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SPEC[name])


def errors(status: int, message: str, code: str | None = None) -> list[dict[str, Any]]:
    return [{"errorCode": code or _CODES.get(status, "UNKNOWN_EXCEPTION"), "message": message}]


def _cents(v: Decimal) -> Decimal:
    return v.quantize(Decimal("0.01"), ROUND_HALF_UP)


class FakeSalesforce(FakeTarget):
    target = "salesforce"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("client_credentials", client_id="3MVG9cid")
        self.invoices: dict[str, dict[str, Any]] = {}
        self.credit_memos: dict[str, dict[str, Any]] = {}
        self.orders = {ORDER: {"AccountId": ACCOUNT, "invoiced": False, "currency": "EUR",
                               "schedules": [(Decimal(2), Decimal("500.00"), TAX_TREATMENTS["S:19"])]}}
        self.tax_rounding = "document"
        self.generate_calls: list[Any] = []

    def env(self) -> dict[str, str]:
        p = "INVOICING_SALESFORCE_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": "3MVG9cid", p + "CLIENT_SECRET": SECRET,
                p + "ID_MAP": f'{{"customer:*": "{ACCOUNT}"}}', p + "TAX_TREATMENTS": json.dumps(TAX_TREATMENTS)}

    def error_body(self, status: int) -> Any:
        return errors(status, f"Injected HTTP {status}.")

    def handle(self, req: Req) -> Reply:
        if req.method == "POST" and req.path == "/services/oauth2/token":
            reply = self.tokens.issue(req)
            if reply.status == 200:
                reply.body = {**reply.body, "instance_url": self.url, "id": f"{self.url}/id/00D/005", "issued_at": "0",
                              "signature": "x"}
                reply.body.pop("expires_in", None)  # Salesforce does not send expires_in
            return reply
        if not self.tokens.authorised(req):
            return Reply(401, errors(401, "Session expired or invalid"))
        if req.method == "GET" and req.path == f"{V}/query":
            return self.query(req.query.get("q", ""))
        routes = {f"{B}/invoices/collection/actions/generate": ("generate", self.generate),
                  f"{B}/invoices/collection/actions/post": ("post", self.post),
                  f"{B}/invoices/collection/actions/checkout": ("checkout", self.checkout),
                  f"{B}/credit-memos/actions/generate": ("credit-memo", self.credit_memo)}
        m = re.fullmatch(rf"{B}/(invoices|credit-memos)/(\w+)/actions/(void|apply)", req.path)
        if req.method == "POST" and (req.path in routes or m):
            name, fn = routes[req.path] if req.path in routes else (m.group(3), None) if m else ("", None)
            body = dec_json(req)
            problems = list(spec_validator(name).iter_errors(body))
            if problems:
                return Reply(400, errors(400, f"{'/'.join(map(str, problems[0].path))}: {problems[0].message}", "INVALID_INPUT"))
            if fn is not None:
                return fn(body)
            return self.void(m.group(2)) if m and m.group(3) == "void" else self.apply(m.group(2) if m else "", body)
        m = re.fullmatch(rf"{V}/sobjects/Invoice/(\w+)", req.path)
        if m and req.method == "PATCH":
            return self.stamp(m.group(1), dec_json(req))
        return Reply(404, errors(404, "The requested resource does not exist"))

    def query(self, q: str) -> Reply:
        if (m := _BY_NUMBER.fullmatch(q)):
            rows = [{"Id": i["Id"], "DocumentNumber": i["DocumentNumber"]} for i in self.invoices.values() if i[FIELD] == m.group(1)][:1]
        elif (m := _UNSTAMPED.fullmatch(q)):
            rows = [{k: (str(i[k]) if isinstance(i[k], Decimal) else i[k]) for k in ("Id", "Status", "TotalAmount",
                                                                                    "TotalTaxAmount", "CurrencyIsoCode")}
                    for i in self.invoices.values() if i[m.group(1)] == m.group(2) and i["InvoiceDate"] == m.group(3)
                    and i[FIELD] is None and i["Status"] != "Canceled"][:1]
        elif (m := _MEMO.fullmatch(q)):
            rows = [{"Id": c["Id"], "Balance": str(c["Balance"])} for c in self.credit_memos.values()
                    if c["ExternalReference"] == m.group(1)][:1]
        else:
            return Reply(400, errors(400, f"unexpected token in: {q[:80]}", "MALFORMED_QUERY"))
        records = [{"attributes": {"type": "Invoice"}, **r} for r in rows]
        return Reply(200, {"totalSize": len(records), "done": True, "records": json.loads(json.dumps(records))})

    def _invoice(self, ref: str, account: str, date: str, status: str, currency: str,
                 lines: list[tuple[Decimal, str]]) -> dict[str, Any]:
        """A new invoice over (line amount, TaxTreatment id) lines, taxed by the engine."""
        net = sum((a for a, _ in lines), Decimal(0))
        raw: dict[str, Decimal] = {}
        per_line = Decimal(0)
        for amount, treatment in lines:
            raw[treatment] = raw.get(treatment, Decimal(0)) + amount * TREATMENTS[treatment] / 100
            per_line += _cents(amount * TREATMENTS[treatment] / 100)
        tax = per_line if self.tax_rounding == "line" else sum((_cents(v) for v in raw.values()), Decimal(0))
        inv_id = f"3ttSG{len(self.invoices) + 1:013d}"
        inv = {"Id": inv_id, "DocumentNumber": f"INV-{len(self.invoices) + 1:08d}", "ReferenceEntityId": ref,
               "BillingAccountId": account, "InvoiceDate": date, "Status": status, FIELD: None, "CurrencyIsoCode": currency,
               "TotalAmount": net + tax, "TotalTaxAmount": tax}
        self.invoices[inv_id] = self.created[inv_id] = inv
        if status == "Posted":
            self.booked[inv_id] = Booked("invoice", net + tax, tax)
        return inv

    def generate(self, body: dict[str, Any]) -> Reply:
        self.generate_calls.append(body)
        order = self.orders.get(body.get("billingTransactionId", ""))
        if order is None:
            return Reply(400, errors(400, "Specify a valid billing transaction ID.", "INVALID_ID_FIELD"))
        if not order["invoiced"]:  # once invoiced, its schedules are billed to the target date: nothing more
            order["invoiced"] = True
            self._invoice(body["billingTransactionId"], order["AccountId"], str(body.get("invoiceDate")), body["action"],
                          order["currency"], [(_cents(q * p), t) for q, p, t in order["schedules"]])
        return Reply(201, {"requestIdentifier": f"req{len(self.generate_calls)}", "success": True, "errors": []})

    def post(self, body: dict[str, Any]) -> Reply:
        for inv_id in body["invoiceIds"]:
            inv = self.invoices.get(inv_id)
            if inv is None or inv["Status"] != "Draft":
                return Reply(400, errors(400, f"Invoice {inv_id} is not a draft.", "INVALID_STATUS"))
            inv["Status"] = "Posted"
            self.booked[inv_id] = Booked("invoice", inv["TotalAmount"], inv["TotalTaxAmount"])
        return Reply(200, {"success": True, "errors": []})

    def checkout(self, body: dict[str, Any]) -> Reply:
        if body.get("accountId") != ACCOUNT or body.get("previewInvoice"):
            return Reply(400, errors(400, "Specify a valid account ID.", "INVALID_ID_FIELD"))
        lines = []
        for item in body["lineItems"]:
            if item["quantity"] * item["netUnitPrice"] != item["lineTotal"] or item.get("taxTreatmentId") not in TREATMENTS:
                return Reply(400, errors(400, "lineTotal must be quantity x netUnitPrice and the tax treatment valid.",
                                         "INVALID_INPUT"))
            lines.append((item["lineTotal"], item["taxTreatmentId"]))
        order_id = f"801SG{len(self.orders) + 1:013d}"
        self.orders[order_id] = {"AccountId": ACCOUNT, "invoiced": True, "currency": body["currencyIsoCode"], "schedules": []}
        self._invoice(order_id, ACCOUNT, str(body["invoiceDate"]), "Posted", body["currencyIsoCode"], lines)
        return Reply(201, {"orderId": order_id, "success": True, "errors": []})

    def void(self, inv_id: str) -> Reply:
        inv = self.invoices.get(inv_id)
        if inv is None or inv["Status"] != "Posted":
            return Reply(400, errors(400, f"Invoice {inv_id} is not posted.", "INVALID_STATUS"))
        inv["Status"] = "Canceled"
        self.booked.pop(inv_id, None)
        return Reply(200, {"success": True, "errors": []})

    def credit_memo(self, body: dict[str, Any]) -> Reply:
        if body["billingAccountId"] != ACCOUNT or body["taxStrategy"] != "ManualOverride":
            return Reply(400, errors(400, "Specify a valid account and tax strategy.", "INVALID_INPUT"))
        net = tax = Decimal(0)
        for charge in body["charges"]:
            rate = TREATMENTS.get(charge.get("treatmentId", ""))
            for t in charge.get("taxes") or []:
                if rate is None or t.get("taxRate") != rate or abs(t["taxAmount"] - charge["chargeAmount"] * rate / 100) >= Decimal("0.01"):
                    return Reply(400, errors(400, f"Tax {t} does not fit treatment {charge.get('treatmentId')}.", "INVALID_INPUT"))
                tax += t["taxAmount"]
            net += charge["chargeAmount"]
        memo_id = f"50gSG{len(self.credit_memos) + 1:013d}"
        self.credit_memos[memo_id] = {"Id": memo_id, "ExternalReference": body.get("externalReference"), "Status": body.get("type"),
                                      "Balance": net + tax, "BillingAccountId": body["billingAccountId"]}
        self.booked[memo_id] = Booked("credit_note", net + tax, tax)
        return Reply(201, {"creditMemoId": memo_id, "success": True, "errors": []})

    def apply(self, memo_id: str, body: dict[str, Any]) -> Reply:
        memo = self.credit_memos.get(memo_id)
        (app,) = body["applications"]
        inv = self.invoices.get(app["appliedToId"])
        if memo is None or inv is None or inv["Status"] != "Posted" or inv["BillingAccountId"] != memo["BillingAccountId"]:
            return Reply(400, errors(400, "Apply a posted credit memo to a posted invoice of the same account.", "INVALID_INPUT"))
        if app["amount"] > memo["Balance"]:
            return Reply(400, errors(400, "The amount exceeds the credit memo balance.", "INVALID_INPUT"))
        memo["Balance"] -= app["amount"]
        self.booked[memo_id].linked_to = inv["Id"]
        return Reply(200, {"success": True, "errors": []})

    def stamp(self, inv_id: str, body: dict[str, Any]) -> Reply:
        inv = self.invoices.get(inv_id)
        if inv is None:
            return Reply(404, errors(404, "The requested resource does not exist"))
        if set(body) != {FIELD}:
            return Reply(400, errors(400, f"No such column '{sorted(body)}' on sobject of type Invoice", "INVALID_FIELD"))
        if any(i[FIELD] == body[FIELD] for i in self.invoices.values() if i is not inv):
            return Reply(400, errors(400, "duplicate value found: External_Invoice_Number__c", "DUPLICATE_VALUE"))
        inv[FIELD] = body[FIELD]
        return Reply(204, b"")


def make_fake() -> FakeSalesforce:
    return FakeSalesforce()
