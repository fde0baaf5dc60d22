"""HubSpot CRM stand-in: invoices, contacts, line items (v3 objects + v4 associations), tax rates and the OAuth token endpoint.

Bodies are validated with jsonschema against the CRM v3 request schemas of
HubSpot/HubSpot-public-api-spec-collection, trimmed in tests/fakes/specs/hubspot_crm_v3.trimmed.json
(`VALIDATORS`: ``SimplePublicObjectInputForCreate``, ``PublicObjectSearchRequest``,
``BatchInputSimplePublicObjectBatchInputForCreate``, ``BatchInputSimplePublicObjectId``,
``SimplePublicObjectInput``; unknown fields rejected, required ones enforced) and property names
against a per-object property catalog (unknown or read-only → ``PROPERTY_DOESNT_EXIST``; values
must be strings). Semantics: ``invoicing_number`` is a custom property with ``hasUniqueValue``
(a second invoice with the same value → 409 CONFLICT); an invoice opens only with a contact and
line items; a line item's tax comes from its ``hs_tax_rate_group_id`` (the tax rate library,
``GET /tax-rates/v1/tax-rates/{id}``), computed per line item and rounded half-up to the currency's
decimals [U: HubSpot's rounding]; ``hs_amount_billed`` = Σ (price × quantity − discount + tax).
``booked`` holds every opened invoice. Errors: ``{status: "error", message, correlationId, category, errors[]}``.
"""
from __future__ import annotations

import itertools
import json
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from domain.money import amount_places
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req
from tests.fakes.targets._token_issuer import REFRESH, SECRET, TokenIssuer

__all__ = ["HubSpotFake", "make_fake", "NUMBER_PROPERTY", "TAX_RATES", "VALIDATORS", "validator_for", "SPEC"]

CLIENT_ID = "hubspot-client"
NUMBER_PROPERTY = "invoicing_number"
SPEC = json.loads((Path(__file__).resolve().parent.parent / "specs" / "hubspot_crm_v3.trimmed.json").read_text())
#: the account's tax rate library: a group per non-zero rate the demo reference data can produce
TAX_RATES = {"S:19": "9101", "S:4": "9102", "S:6.25": "9103", "S:6.5": "9104", "S:7.25": "9105"}


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]})


CREATE, UPDATE, SEARCH = (_validator(n) for n in ("SimplePublicObjectInputForCreate", "SimplePublicObjectInput",
                                                  "PublicObjectSearchRequest"))
BATCH_CREATE, BATCH_ARCHIVE = _validator("BatchInputSimplePublicObjectBatchInputForCreate"), _validator("BatchInputSimplePublicObjectId")
_OBJ = r"/crm/v3/objects/(?:invoices|contacts|line_items)"
#: (method, path pattern) → the spec schema its JSON body must match (None: no body)
VALIDATORS: list[tuple[str, str, jsonschema.Draft202012Validator | None]] = [
    ("POST", _OBJ + "/search", SEARCH), ("POST", _OBJ, CREATE), ("POST", _OBJ + "/batch/create", BATCH_CREATE),
    ("POST", _OBJ + "/batch/archive", BATCH_ARCHIVE), ("PATCH", _OBJ + r"/\d+", UPDATE), ("GET", _OBJ + r"/\d+", None),
    ("GET", r"/crm/v4/objects/invoices/\d+/associations/\w+", None), ("GET", r"/tax-rates/v1/tax-rates/\w+", None),
    ("POST", r"/oauth/v1/token", None)]


def validator_for(method: str, path: str) -> tuple[bool, jsonschema.Draft202012Validator | None]:
    """(route known, its body validator)."""
    for m, pattern, v in VALIDATORS:
        if m == method and re.fullmatch(pattern, path):
            return True, v
    return False, None


CATALOG = {
    "invoices": {"hs_currency", "hs_invoice_date", "hs_due_date", "hs_invoice_status", "hs_purchase_order_number",
                 "hs_comments", "hs_tax_id", "hs_language", "hs_locale", "hs_allowed_payment_methods",
                 "hs_invoice_link", "hs_amount_billed", "hs_number", NUMBER_PROPERTY},
    "contacts": {"email", "firstname", "lastname", "company", "phone", "address", "city", "zip", "country"},
    "line_items": {"name", "quantity", "price", "hs_line_item_currency_code", "hs_sku", "description", "hs_discount",
                   "discount", "hs_product_id", "amount", "hs_tax_rate_group_id", "hs_tax_amount", "hs_tax_rate", "hs_tax_label"},
}
READ_ONLY = {"hs_invoice_link", "hs_amount_billed", "hs_number", "amount", "hs_tax_amount", "hs_tax_rate", "hs_tax_label"}


def error(status: int, category: str, message: str, errors: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    if errors:
        body["errors"] = errors
    return Reply(status, body)


class HubSpotFake(FakeTarget):
    target = "hubspot"

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenIssuer("refresh_token", CLIENT_ID, SECRET, REFRESH, ttl=1800)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "line_items": {}, "invoices": self.created}
        self.assoc: dict[str, set[tuple[str, str]]] = {}  # invoice id → {(object type, id)}
        self._ids = itertools.count(51000000001)
        self.tax_rate_groups = {gid: {"id": gid, "active": True, "label": f"VAT {key.split(':')[1]} %", "name": key,
                                      "percentageRate": float(key.split(":")[1]), "createdAt": "2026-01-05T09:00:00Z",
                                      "updatedAt": "2026-01-05T09:00:00Z"} for key, gid in TAX_RATES.items()}

    def env(self) -> dict[str, str]:
        p = "INVOICING_HUBSPOT_"
        return {p + "BASE_URL": self.url, p + "TOKEN_URL": f"{self.url}/oauth/v1/token", p + "CLIENT_ID": CLIENT_ID,
                p + "CLIENT_SECRET": SECRET, p + "REFRESH_TOKEN": REFRESH, p + "TAX_RATES": json.dumps(TAX_RATES)}

    def error_body(self, status: int) -> Any:
        category = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
                    409: "CONFLICT", 429: "RATE_LIMITS"}.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        body = error(status, category, f"Injected HTTP {status}").body
        if status == 429:
            body.update(errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING",
                        message="You have reached your ten_secondly_rolling limit.")
        return body

    def handle(self, req: Req) -> Reply:
        if req.path == "/oauth/v1/token" and req.method == "POST":
            return self.tokens.issue(req)
        if not self.tokens.authorised(req):
            return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 "
                         "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
        body = req.json() if req.body else None
        m = re.fullmatch(r"/crm/v3/objects/(invoices|contacts|line_items)(?:/(search|batch/create|batch/archive|\d+))?", req.path)
        if m:
            kind, tail = m.group(1), m.group(2)
            if req.method == "POST" and tail == "search":
                return self._check(SEARCH, body) or self._search(kind, body)
            if req.method == "POST" and tail is None:
                return self._check(CREATE, body) or self._create(kind, body)
            if req.method == "POST" and tail == "batch/create":
                if bad := self._check(BATCH_CREATE, body):
                    return bad
                results = []
                for one in body["inputs"]:
                    reply = self._create(kind, one)
                    if reply.status >= 300:
                        return reply
                    results.append(reply.body)
                return Reply(201, {"status": "COMPLETE", "results": results})
            if req.method == "POST" and tail == "batch/archive":
                if bad := self._check(BATCH_ARCHIVE, body):
                    return bad
                for one in body["inputs"]:
                    self.objects[kind].pop(one["id"], None)
                    for links in self.assoc.values():
                        links.discard((kind, one["id"]))
                return Reply(204, b"")
            if tail and tail.isdigit() and tail in self.objects[kind]:
                if req.method == "GET":
                    return Reply(200, self._view(kind, tail))
                if req.method == "PATCH":
                    return self._check(UPDATE, body) or self._update(kind, tail, body["properties"])
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        t = re.fullmatch(r"/tax-rates/v1/tax-rates/(\w+)", req.path)
        if t and req.method == "GET":
            group = self.tax_rate_groups.get(t.group(1))
            return Reply(200, group) if group else error(404, "OBJECT_NOT_FOUND", f"Tax rate {t.group(1)} not found")
        a = re.fullmatch(r"/crm/v4/objects/invoices/(\d+)/associations/(\w+)", req.path)
        if a and req.method == "GET":
            links = [{"toObjectId": int(i), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 409}]}
                     for k, i in sorted(self.assoc.get(a.group(1), set())) if k == a.group(2)]
            return Reply(200, {"results": links})
        return error(404, "OBJECT_NOT_FOUND", f"Unknown path {req.path}")

    def _check(self, validator: jsonschema.Draft202012Validator, body: Any) -> Reply | None:
        errs = list(validator.iter_errors(body))
        if not errs:
            return None
        return error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1, column 1: " + errs[0].message,
                     [{"message": e.message, "code": "INVALID_JSON"} for e in errs[:5]])

    def _props_problems(self, kind: str, props: dict[str, str], creating: bool) -> Reply | None:
        unknown = [p for p in props if p not in CATALOG[kind] or p in READ_ONLY]
        if unknown:
            return error(400, "VALIDATION_ERROR", f"Property values were not valid: Property \"{unknown[0]}\" does not exist "
                         "or is read-only", [{"message": f"Property \"{p}\" does not exist", "code": "PROPERTY_DOESNT_EXIST",
                                              "context": {"propertyName": [p]}} for p in unknown])
        for date_prop in ("hs_invoice_date", "hs_due_date"):
            if date_prop in props and not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{13}", props[date_prop]):
                return error(400, "VALIDATION_ERROR", f"Property values were not valid: {props[date_prop]!r} is not a valid date",
                             [{"message": "INVALID_DATE", "code": "INVALID_DATE"}])
        if kind == "invoices" and creating and "hs_currency" not in props:
            return error(400, "VALIDATION_ERROR", "hs_currency is required to create an invoice")
        return None

    def _create(self, kind: str, body: dict[str, Any]) -> Reply:
        props = body["properties"]
        if bad := self._props_problems(kind, props, True):
            return bad
        if kind == "invoices" and NUMBER_PROPERTY in props and any(
                o["properties"].get(NUMBER_PROPERTY) == props[NUMBER_PROPERTY] for o in self.created.values()):
            return error(409, "CONFLICT", f"An invoice with {NUMBER_PROPERTY}={props[NUMBER_PROPERTY]} already exists.")
        if kind == "contacts" and any(c["properties"].get("email") == props.get("email") for c in self.objects["contacts"].values()):
            existing = next(i for i, c in self.objects["contacts"].items() if c["properties"].get("email") == props.get("email"))
            return error(409, "CONFLICT", f"Contact already exists. Existing ID: {existing}")
        oid = str(next(self._ids))
        stored = {"id": oid, "properties": dict(props), "archived": False}
        if kind == "invoices":
            stored["properties"].setdefault("hs_invoice_status", "draft")
        self.objects[kind][oid] = stored
        for link in body.get("associations") or []:
            target = link["to"]["id"]
            if kind == "invoices":
                if target not in self.objects["contacts"]:
                    return error(400, "VALIDATION_ERROR", f"Association target {target} does not exist")
                self.assoc.setdefault(oid, set()).add(("contacts", target))
            elif kind == "line_items":
                group = props.get("hs_tax_rate_group_id")
                if group is not None and not (group in self.tax_rate_groups and self.tax_rate_groups[group]["active"]):
                    return error(400, "VALIDATION_ERROR", f"Tax rate group {group} does not exist or is inactive")
                if target not in self.created:
                    return error(400, "VALIDATION_ERROR", f"Association target {target} does not exist")
                self.assoc.setdefault(target, set()).add(("line_items", oid))
        return Reply(201, self._view(kind, oid))

    def _amounts(self, oid: str) -> tuple[Decimal, Decimal]:
        """(amount billed, tax) of invoice *oid*: per line item, net plus its tax rounded half-up."""
        total = tax = Decimal(0)
        cent = amount_places(self.created[oid]["properties"].get("hs_currency", "USD"))
        for k, lid in self.assoc.get(oid, set()):
            if k == "line_items":
                p = self.objects["line_items"][lid]["properties"]
                net = (Decimal(p["price"]) * Decimal(p["quantity"]) - Decimal(p.get("hs_discount", "0"))).quantize(cent, ROUND_HALF_UP)
                group = self.tax_rate_groups.get(p.get("hs_tax_rate_group_id", ""))
                line_tax = (net * Decimal(str(group["percentageRate"])) / 100).quantize(cent, ROUND_HALF_UP) if group else Decimal(0)
                total, tax = total + net + line_tax, tax + line_tax
        return total, tax

    def _view(self, kind: str, oid: str) -> dict[str, Any]:
        doc = self.objects[kind][oid]
        if kind == "invoices":
            doc["properties"]["hs_amount_billed"] = f"{self._amounts(oid)[0]:f}"
            doc["properties"]["hs_invoice_link"] = f"https://app.hubspot.com/invoices/fake/{oid}"
        return doc

    def _update(self, kind: str, oid: str, props: dict[str, str]) -> Reply:
        if bad := self._props_problems(kind, props, False):
            return bad
        if props.get("hs_invoice_status") == "open":
            kinds = {k for k, _ in self.assoc.get(oid, set())}
            if not {"contacts", "line_items"} <= kinds:
                return error(400, "VALIDATION_ERROR", "An invoice needs a contact and at least one line item to be open")
            self.booked[oid] = Booked("invoice", *self._amounts(oid))
        self.objects[kind][oid]["properties"].update(props)
        return Reply(200, self._view(kind, oid))

    def _search(self, kind: str, body: dict[str, Any]) -> Reply:
        filters = [f for g in body.get("filterGroups") or [] for f in g["filters"]]
        hits = [self._view(kind, o["id"]) for o in list(self.objects[kind].values())
                if all(f["operator"] == "EQ" and o["properties"].get(f["propertyName"]) == f.get("value") for f in filters)]
        return Reply(200, {"total": len(hits), "results": hits[: body.get("limit", 10)]})


def make_fake() -> HubSpotFake:
    return HubSpotFake()
