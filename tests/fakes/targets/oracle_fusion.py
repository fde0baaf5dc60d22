"""Oracle Fusion stand-in: ``receivablesInvoices`` and ``receivablesCreditMemos`` (GET with q, POST), invoice
installments, and the SOAP ``CreditMemoService`` ``applyOnAccountCreditMemo``.

Checks what the Financials REST guide fixes: the ``application/vnd.oracle.adf.resourceitem+json``
content type, HTTP Basic (or a Bearer token from the IDCS token endpoint at ``/oauth2/v1/token``),
and validates bodies with jsonschema against the field lists in
tests/fakes/specs/oracle_fusion_receivables.json. A transaction source that disallows duplicate
numbers refuses a second ``TransactionNumber``. Manual tax lines name a tax regime and rate code of
the tenant; their amount is kept (within one cent of the line's amount × rate [U]). A credit memo
is on account (negative amounts, balance = its total) until applied to an invoice's installment;
``booked`` links it then.
Errors: ``{"title", "status", "o:errorDetails": [...]}`` (``application/vnd.oracle.adf.error+json``);
401 is plain text.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

USERNAME = "invoicing.integration"
PASSWORD = "fusion-pass-3c9d1e"
CLIENT_ID = "fusion-oauth-client"
CLIENT_SECRET = "fusion-oauth-secret-77aa"
BUSINESS_UNITS = {"Vision Operations"}
SOURCES = {"Invoicing Pipeline": False}  # name → AllowDuplicateTrxNumFlag
TYPES = {"Invoice"}
CM_TYPES = {"Credit Memo"}
_API = "/fscmRestApi/resources/11.13.18.05"
_RESOURCE = _API + "/receivablesInvoices"
SPEC: dict[str, Any] = json.loads((Path(__file__).resolve().parent.parent / "specs" / "oracle_fusion_receivables.json").read_text())
#: the tenant's tax regime / rate codes (rate %), and the mapping the sink is configured with
RATE_CODES = {("DE VAT", "DE VAT STANDARD"): Decimal(19), ("DE VAT", "DE VAT ICS"): Decimal(0),
              ("DE VAT", "DE VAT RC"): Decimal(0), ("DE VAT", "DE VAT EXPORT"): Decimal(0),
              ("US SALES TAX", "EXEMPT"): Decimal(0), ("NOT SUBJECT", "OUT OF SCOPE"): Decimal(0),
              ("US SALES TAX", "MA 6.25"): Decimal("6.25"), ("US SALES TAX", "NY 4"): Decimal(4),
              ("US SALES TAX", "WA 6.5"): Decimal("6.5"), ("US SALES TAX", "CA 7.25"): Decimal("7.25")}
TAX_RATES = {"S:19": "DE VAT/DE VAT STANDARD", "K:0": "DE VAT/DE VAT ICS", "AE:0": "DE VAT/DE VAT RC",
             "G:0": "DE VAT/DE VAT EXPORT", "E:0": "US SALES TAX/EXEMPT", "O:0": "NOT SUBJECT/OUT OF SCOPE",
             "S:6.25": "US SALES TAX/MA 6.25", "S:4": "US SALES TAX/NY 4", "S:6.5": "US SALES TAX/WA 6.5",
             "S:7.25": "US SALES TAX/CA 7.25"}
_CM_NS = "{http://xmlns.oracle.com/apps/financials/receivables/transactions/creditMemos/creditMemoService/}"


def spec_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**SPEC[name], "$defs": SPEC["$defs"]})


def soap_apply_values(body: bytes) -> dict[str, str]:
    """The fields of an applyOnAccountCreditMemo envelope (``cre:`` namespace), by local name."""
    root = ElementTree.fromstring(body)
    op = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/"
                   "{http://xmlns.oracle.com/apps/financials/receivables/transactions/creditMemos/creditMemoService/types/}"
                   "applyOnAccountCreditMemo")
    if op is None or len(op) != 1:
        raise ValueError("expected soapenv:Body/typ:applyOnAccountCreditMemo/typ:applyOnAccountCreditMemo")
    return {el.tag.removeprefix(_CM_NS): el.text or "" for el in op[0] if el.tag.startswith(_CM_NS)} | \
        {f"<unknown {el.tag}>": "" for el in op[0] if not el.tag.startswith(_CM_NS)}
_ERR = "application/vnd.oracle.adf.error+json"
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def oracle_error(status: int, *details: tuple[str, str]) -> Reply:
    if status == 401:
        return Reply(401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Oracle Fusion"'}, "text/plain")
    return Reply(status, {"title": _TITLES.get(status, "Error"), "status": str(status),
                          "o:errorDetails": [{"detail": d, "o:errorCode": c} for c, d in details]}, {}, _ERR)


class OracleFusionFake(FakeTarget):
    target = "oracle-fusion"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.next_id = 300100170996000
        self.credit_memos: dict[str, dict[str, Any]] = {}
        self.applications: list[dict[str, Any]] = []

    def env(self) -> dict[str, str]:
        p = "INVOICING_ORACLE_FUSION_"
        return {p + "BASE_URL": self.url, p + "USERNAME": USERNAME, p + "PASSWORD": PASSWORD, p + "TAX_RATES": json.dumps(TAX_RATES)}

    def oauth_env(self) -> dict[str, str]:
        p = "INVOICING_ORACLE_FUSION_"
        return {p + "BASE_URL": self.url, p + "CLIENT_ID": CLIENT_ID, p + "CLIENT_SECRET": CLIENT_SECRET,
                p + "TOKEN_URL": self.url + "/oauth2/v1/token"}

    def error_body(self, status: int) -> Any:
        reply = oracle_error(status, ("FND-2000", {429: "Request rate exceeded", 403: "You don't have permission to "
                                                   "create receivables invoices."}.get(status, f"HTTP {status}")))
        return reply.body

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _authorised(self, req: Req) -> bool:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == f"{USERNAME}:{PASSWORD}"
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth2/v1/token":
            auth = req.headers.get("authorization", "")
            good = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if auth != f"Basic {good}" or req.form().get("grant_type") != "client_credentials":
                return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
            self.token_requests += 1
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        if req.path == "/fscmService/CreditMemoService":
            return self._soap_apply(req) if self._authorised(req) else oracle_error(401)
        if not req.path.startswith(_API):
            return oracle_error(404, ("404", f"Resource {req.path} not found"))
        if not self._authorised(req):
            return oracle_error(401)
        resource = req.path[len(_API) + 1:]
        rows = {"receivablesInvoices": self.created, "receivablesCreditMemos": self.credit_memos}.get(resource)
        m = re.fullmatch(r"receivablesInvoices/(\d+)/child/receivablesInvoiceInstallments", resource)
        if req.method == "GET" and m:
            inv = self.created.get(m.group(1))
            items = [{"InstallmentId": inv["_ps"], "InstallmentNumber": 1, "BalanceDue": str(inv["_balance"])}] if inv else []
            return Reply(200, {"items": items, "count": len(items), "hasMore": False}) if inv else \
                oracle_error(404, ("404", f"Invoice {m.group(1)} not found"))
        if rows is not None and req.method == "GET":
            return self._find(req, rows)
        if rows is not None and req.method == "POST":
            if req.headers.get("content-type", "").split(";")[0] != "application/vnd.oracle.adf.resourceitem+json":
                return Reply(415, b"Unsupported Media Type", {}, "text/plain")
            body = json.loads(req.body, parse_float=Decimal)
            return self._create(body) if resource == "receivablesInvoices" else self._create_credit_memo(body)
        return oracle_error(405, ("405", "Method not allowed"))

    def _find(self, req: Req, table: dict[str, dict[str, Any]]) -> Reply:
        q = req.query.get("q", "")
        conds = dict(re.findall(r"(\w+)='((?:[^']|'')*)'", q))
        if not conds or not re.fullmatch(r"\w+='(?:[^']|'')*'( and \w+='(?:[^']|'')*')*", q):
            return oracle_error(400, ("FND-2010", f"The query expression {q!r} is not valid."))
        conds = {k: v.replace("''", "'") for k, v in conds.items()}
        rows = [r for r in table.values() if all(str(r.get(k)) == v for k, v in conds.items())]
        fields = req.query.get("fields", "").split(",") if req.query.get("fields") else None
        items = json.loads(json.dumps([{f: r.get(f) for f in fields} if fields else r for r in rows], default=str))
        return Reply(200, {"items": items, "count": len(items), "hasMore": False, "limit": 25, "offset": 0})

    def _problems(self, name: str, body: Any, types: set[str]) -> list[tuple[str, str]]:
        problems = [("AR-855000", f"{'/'.join(map(str, e.path))}: {e.message}") for e in spec_validator(name).iter_errors(body)]
        if problems:
            return problems
        if body["BusinessUnit"] not in BUSINESS_UNITS:
            problems.append(("AR-855023", f"The business unit {body['BusinessUnit']} is not valid."))
        if body["TransactionSource"] not in SOURCES:
            problems.append(("AR-855052", f"The transaction source {body['TransactionSource']} is not valid."))
        if body["TransactionType"] not in types:
            problems.append(("AR-855053", f"The transaction type {body['TransactionType']} is not valid."))
        return problems

    def _tax_lines(self, amount: Decimal, lines: list[dict[str, Any]]) -> tuple[Decimal, str | None]:
        total = Decimal(0)
        for t in lines:
            rate = RATE_CODES.get((t["TaxRegimeCode"], t["TaxRateCode"]))
            if rate is None:
                return total, f"The tax rate code {t['TaxRateCode']} of regime {t['TaxRegimeCode']} is not valid."
            if abs(t["TaxAmount"] - amount * rate / 100) >= Decimal("0.01"):
                return total, f"The manual tax amount {t['TaxAmount']} is not {rate} % of {amount}."
            total += t["TaxAmount"]
        return total, None

    def _amounts(self, lines: list[dict[str, Any]], qty: str, taxes: str) -> tuple[Decimal, Decimal, str | None]:
        net = tax = Decimal(0)
        for i, ln in enumerate(lines, 1):
            if ln.get("LineNumber") != i:
                return net, tax, f"Line numbers must be 1..n; got {ln.get('LineNumber')!r}."
            amount = (Decimal(ln.get(qty, 1)) * ln["UnitSellingPrice"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
            line_tax, problem = self._tax_lines(amount, ln.get(taxes) or [])
            if problem:
                return net, tax, problem
            net, tax = net + amount, tax + line_tax
        return net, tax, None

    def _duplicate(self, body: dict[str, Any]) -> Reply | None:
        number = body.get("TransactionNumber")
        if number and not SOURCES[body["TransactionSource"]] and any(
                r["TransactionNumber"] == number and r["TransactionSource"] == body["TransactionSource"]
                for r in [*self.created.values(), *self.credit_memos.values()]):
            return oracle_error(400, ("AR-855085", f"The transaction number {number} already exists for the transaction "
                                                   f"source {body['TransactionSource']}."))
        return None

    def _create(self, body: dict[str, Any]) -> Reply:
        problems = self._problems("receivablesInvoices", body, TYPES)
        if problems:
            return oracle_error(400, *problems)
        net, tax, problem = self._amounts(body["receivablesInvoiceLines"], "Quantity", "receivablesInvoiceLineTaxLines")
        if problem:
            return oracle_error(400, ("AR-855102", problem))
        duplicate = self._duplicate(body)
        if duplicate:
            return duplicate
        self.next_id += 1
        item = {**body, "CustomerTransactionId": self.next_id, "TransactionNumber": body.get("TransactionNumber") or str(self.next_id),
                "InvoiceStatus": "Complete", "EnteredAmount": net + tax, "_ps": 100000 + self.next_id % 100000, "_balance": net + tax}
        self.created[str(self.next_id)] = item
        self.booked[str(self.next_id)] = Booked("invoice", net + tax, tax)
        out = json.loads(json.dumps({k: v for k, v in item.items() if not k.startswith("_")}, default=str))
        return Reply(201, out, {"Location": f"{self.url}{_RESOURCE}/{self.next_id}"}, "application/vnd.oracle.adf.resourceitem+json")

    def _create_credit_memo(self, body: dict[str, Any]) -> Reply:
        problems = self._problems("receivablesCreditMemos", body, CM_TYPES)
        if problems:
            return oracle_error(400, *problems)
        net, tax, problem = self._amounts(body["receivablesCreditMemoLines"], "LineQuantityCredit",
                                          "receivablesCreditMemoLineTaxLines")
        if problem or net + tax >= 0:
            return oracle_error(400, ("AR-855110", problem or "An on-account credit memo must have a negative amount."))
        duplicate = self._duplicate(body)
        if duplicate:
            return duplicate
        self.next_id += 1
        item = {**body, "CustomerTransactionId": self.next_id, "CreditMemoStatus": "Complete", "EnteredAmount": net + tax,
                "TransactionBalanceDue": net + tax}
        self.credit_memos[str(self.next_id)] = item
        self.booked[str(self.next_id)] = Booked("credit_note", -(net + tax), -tax)
        return Reply(201, json.loads(json.dumps(item, default=str)), {"Location": f"{self.url}{_API}/receivablesCreditMemos/"
                                                                                 f"{self.next_id}"}, "application/vnd.oracle.adf.resourceitem+json")

    def _soap_apply(self, req: Req) -> Reply:
        def fault(text: str) -> Reply:
            return Reply(500, f'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><env:Fault>'
                              f'<faultcode>env:Server</faultcode><faultstring>{text}</faultstring></env:Fault></env:Body>'
                              f'</env:Envelope>'.encode(), {}, "text/xml")
        try:
            values = soap_apply_values(req.body)
        except (ValueError, ElementTree.ParseError) as exc:
            return fault(f"JBO-27023: {exc}")
        errors = list(spec_validator("applyOnAccountCreditMemo").iter_errors(values))
        if errors:
            return fault(f"JBO-27024: {errors[0].message}")
        memo = self.credit_memos.get(values["CreditMemoTrxId"])
        invoice = next((i for i in self.created.values() if str(i["_ps"]) == values["AppliedPaymentScheduleId"]), None)
        amount = Decimal(values["AmountApplied"])
        if memo is None or invoice is None or memo["BillToCustomerNumber"] != invoice["BillToCustomerNumber"]:
            return fault("AR-855200: The credit memo and the payment schedule must exist and belong to the same customer.")
        if amount > -memo["TransactionBalanceDue"] or amount > invoice["_balance"]:
            return fault(f"AR-855201: The amount applied {amount} exceeds the balance.")
        memo["TransactionBalanceDue"] += amount
        invoice["_balance"] -= amount
        self.applications.append({**values, "invoice": invoice["CustomerTransactionId"]})
        self.booked[values["CreditMemoTrxId"]].linked_to = str(invoice["CustomerTransactionId"])
        return Reply(200, b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
                          b'<ns0:applyOnAccountCreditMemoResponse xmlns:ns0="http://xmlns.oracle.com/apps/financials/'
                          b'receivables/transactions/creditMemos/creditMemoService/types/"/></env:Body></env:Envelope>',
                     {}, "text/xml")


def make_fake() -> OracleFusionFake:
    return OracleFusionFake()
