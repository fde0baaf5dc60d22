"""Odoo stand-in: the JSON-2 API (``POST /json/2/<model>/<method>``) over a tiny in-memory ORM.

Checks what the docs and the source (addons/rpc/controllers/json2.py) fix: POST only,
``Authorization: bearer <API key>``, ``X-Odoo-Database``, a JSON object of named
arguments (``ids``, ``context``, the method's parameters), ``vals_list`` for ``create``.
Errors are HTTP 4xx/5xx with ``{"name", "message", "arguments", "context", "debug"}``:
unknown model/method → 404, bad API key → 401, ``UserError``/``ValidationError`` → 422.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

API_KEY = "odoo-api-key-5b1e0c9a7f"
DATABASE = "kompressor-prod"

_EXC = {400: "werkzeug.exceptions.BadRequest", 401: "werkzeug.exceptions.Unauthorized",
        403: "odoo.exceptions.AccessError", 404: "werkzeug.exceptions.NotFound",
        422: "odoo.exceptions.ValidationError", 429: "werkzeug.exceptions.TooManyRequests",
        500: "werkzeug.exceptions.InternalServerError", 503: "werkzeug.exceptions.ServiceUnavailable"}


def odoo_error(status: int, message: str, name: str | None = None) -> Reply:
    return Reply(status, {"name": name or _EXC.get(status, "werkzeug.exceptions.HTTPException"), "message": message,
                          "arguments": [message, status], "context": {},
                          "debug": "Traceback (most recent call last):\n  ...\n"})


class OdooFake(FakeTarget):
    target = "odoo"

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, dict[int, dict[str, Any]]] = {
            "res.partner": {7: {"id": 7, "name": "Existing GmbH", "ref": "C-EXIST", "email": "ap@existing.example", "vat": False}},
            "res.currency": {i: {"id": i, "name": c} for i, c in enumerate(("EUR", "USD", "GBP", "JPY", "CHF", "NOK"), 1)},
            "account.tax": {10: {"id": 10, "name": "19%", "type_tax_use": "sale", "amount_type": "percent", "amount": Decimal(19)},
                            11: {"id": 11, "name": "7%", "type_tax_use": "sale", "amount_type": "percent", "amount": Decimal(7)},
                            12: {"id": 12, "name": "0% EU", "type_tax_use": "sale", "amount_type": "percent", "amount": Decimal(0)},
                            13: {"id": 13, "name": "6.25%", "type_tax_use": "sale", "amount_type": "percent", "amount": Decimal("6.25")},
                            20: {"id": 20, "name": "19% purchase", "type_tax_use": "purchase", "amount_type": "percent", "amount": Decimal(19)}},
            "account.move": {},
            "sale.order": {42: {"id": 42, "name": "S00042", "partner_id": 7, "currency_id": 1, "invoice_ids": [],
                                "lines": [("Compressor", Decimal(2), Decimal("1500.00"), 10)]}},
            "sale.advance.payment.inv": {},
        }
        self.next_id = 100
        self.posted = 0

    def env(self) -> dict[str, str]:
        return {**super().env(), "INVOICING_ODOO_API_KEY": API_KEY, "INVOICING_ODOO_DATABASE": DATABASE}

    def error_body(self, status: int) -> Any:
        return odoo_error(status, {401: "Invalid apikey", 403: "You are not allowed to access 'Journal Entry' records.",
                                   429: "Too many requests", 400: "could not parse the body as json"}
                          .get(status, f"HTTP {status}")).body

    # -- ORM helpers ----------------------------------------------------------------
    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @staticmethod
    def _match(rec: dict[str, Any], domain: list[Any]) -> bool:
        for leaf in domain:
            if not (isinstance(leaf, list) and len(leaf) == 3):
                raise ValueError(f"Invalid leaf {leaf!r}")
            field, op, value = leaf
            have = rec.get(field, False)
            if op == "=" and not (have == value or (isinstance(have, Decimal) and have == Decimal(str(value)))):
                return False
            if op == "in" and have not in value:
                return False
            if op not in ("=", "in"):
                raise ValueError(f"operator {op!r} not supported by the fake")
        return True

    def handle(self, req: Req) -> Reply:
        parts = req.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["json", "2"]:
            return odoo_error(404, "Did you mean POST /json/2/<model>/<method>?")
        if req.method != "POST":
            return odoo_error(405, "The method is not allowed for the requested URL.", "werkzeug.exceptions.MethodNotAllowed")
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key != API_KEY:
            return odoo_error(401, "Invalid apikey")
        if req.headers.get("x-odoo-database") != DATABASE:
            return odoo_error(404, f"database {req.headers.get('x-odoo-database')!r} not found")
        try:
            params = json.loads(req.body or b"{}", parse_float=Decimal)
        except ValueError as exc:
            return odoo_error(400, f"could not parse the body as json: {exc}")
        if not isinstance(params, dict):
            return odoo_error(400, "could not parse the body, expecting a json object")
        model, method = parts[2], parts[3]
        if model not in self.models:
            return odoo_error(404, f"the model {model!r} does not exist")
        fn = getattr(self, f"_{method}", None)
        if fn is None or method.startswith("_"):
            return odoo_error(404, f"The method {method!r} does not exist on the model {model!r}")
        try:
            return Reply(200, fn(model, params))
        except LookupError as exc:
            return odoo_error(422, str(exc.args[0]), "odoo.exceptions.UserError")
        except ValueError as exc:
            return odoo_error(422, str(exc.args[0]))

    # -- methods --------------------------------------------------------------------
    def _search_read(self, model: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        unknown = set(p) - {"domain", "fields", "offset", "limit", "order", "context"}
        if unknown:
            raise ValueError(f"search_read() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        rows = [r for r in self.models[model].values() if self._match(r, p.get("domain", []))]
        if p.get("order") == "id desc":
            rows.sort(key=lambda r: -r["id"])
        rows = rows[: p.get("limit") or None]
        fields = p.get("fields") or list(rows[0]) if rows else []
        return [{f: (float(r[f]) if isinstance(r.get(f), Decimal) else r.get(f, False)) for f in fields} for r in rows]

    def _read(self, model: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [{f: self.models[model][i].get(f, False) for f in ["id", *p.get("fields", [])]} for i in p["ids"]]

    def _create(self, model: str, p: dict[str, Any]) -> list[int]:
        if "vals_list" not in p or not isinstance(p["vals_list"], list):
            raise ValueError("create() missing 1 required positional argument: 'vals_list'")
        check = getattr(self, "_check_" + model.replace(".", "_"), lambda v: None)
        ids = []
        for vals in p["vals_list"]:
            check(vals)
            rid = self._new_id()
            self.models[model][rid] = {"id": rid, **vals}
            ids.append(rid)
        if model == "account.move":
            for rid in ids:
                rec = self.models[model][rid]
                rec.update(state="draft", name="/")
                self.created[str(rid)] = rec
        return ids

    def _check_res_partner(self, vals: dict[str, Any]) -> None:
        if not vals.get("name"):
            raise ValueError("The field 'Name' is required.")

    def _check_account_move(self, vals: dict[str, Any]) -> None:
        allowed = {"move_type", "partner_id", "ref", "payment_reference", "currency_id", "invoice_date",
                   "invoice_date_due", "invoice_origin", "narration", "invoice_line_ids", "journal_id"}
        if set(vals) - allowed:
            raise ValueError(f"Invalid field {sorted(set(vals) - allowed)[0]!r} on model 'account.move'")
        if vals.get("move_type") not in ("out_invoice", "out_refund"):
            raise ValueError(f"Wrong value for account.move.move_type: {vals.get('move_type')!r}")
        if vals.get("partner_id") not in self.models["res.partner"]:
            raise LookupError("Record does not exist or has been deleted. (Record: res.partner)")
        if vals.get("currency_id") not in self.models["res.currency"]:
            raise LookupError("Record does not exist or has been deleted. (Record: res.currency)")
        for d in ("invoice_date", "invoice_date_due"):
            if not isinstance(vals.get(d), str) or len(vals[d]) != 10:
                raise ValueError(f"'{vals.get(d)}' does not match format '%Y-%m-%d'")
        lines = vals.get("invoice_line_ids")
        if not lines:
            raise LookupError("You need to add a line before posting.")
        for cmd in lines:
            if not (isinstance(cmd, list) and len(cmd) == 3 and cmd[:2] == [0, 0] and isinstance(cmd[2], dict)):
                raise ValueError(f"Invalid x2many command {cmd!r}")
            line = cmd[2]
            if not line.get("name") or not isinstance(line.get("quantity"), (int, Decimal)) or not isinstance(line.get("price_unit"), (int, Decimal)):
                raise ValueError(f"invoice line needs name, quantity and price_unit as numbers: {line!r}")
            for tcmd in line.get("tax_ids", []):
                if tcmd[:2] != [6, 0] or any(t not in self.models["account.tax"] for t in tcmd[2]):
                    raise ValueError(f"Invalid tax command {tcmd!r}")

    def _write(self, model: str, p: dict[str, Any]) -> bool:
        for i in p["ids"]:
            self.models[model][i].update(p["vals"])
        return True

    def _action_post(self, model: str, p: dict[str, Any]) -> bool:
        if model != "account.move" or not p.get("ids"):
            raise ValueError("action_post needs ids of account.move records")
        for i in p["ids"]:
            move = self.models[model].get(i)
            if move is None:
                raise LookupError(f"Record does not exist or has been deleted. (Record: account.move({i},))")
            if move["state"] != "draft":
                raise LookupError("Only draft journal entries can be posted.")
            self.posted += 1
            move.update(state="posted", name=f"INV/2026/{self.posted:05d}")
        return False

    def _create_invoices(self, model: str, p: dict[str, Any]) -> dict[str, Any]:
        if model != "sale.advance.payment.inv":
            raise ValueError("create_invoices is a method of sale.advance.payment.inv")
        wizard = self.models[model][p["ids"][0]]
        if wizard.get("advance_payment_method") != "delivered":
            raise ValueError("this fake supports advance_payment_method 'delivered' only")
        (cmd,) = wizard["sale_order_ids"]
        move_ids = []
        for so_id in cmd[2]:
            so = self.models["sale.order"][so_id]
            if so["invoice_ids"]:
                raise LookupError("There is no invoiceable line. If a product has a Delivered quantities invoicing policy, please make sure that a quantity has been delivered.")
            rid = self._new_id()
            move = {"id": rid, "move_type": "out_invoice", "partner_id": so["partner_id"], "currency_id": so["currency_id"],
                    "invoice_origin": so["name"], "ref": False, "state": "draft", "name": "/",
                    "invoice_line_ids": [[0, 0, {"name": n, "quantity": q, "price_unit": pu, "tax_ids": [[6, 0, [t]]]}]
                                         for n, q, pu, t in so["lines"]]}
            self.models["account.move"][rid] = move
            self.created[str(rid)] = move
            so["invoice_ids"].append(rid)
            move_ids.append(rid)
        return {"type": "ir.actions.act_window", "res_model": "account.move", "res_id": move_ids[0], "view_mode": "form"}


def make_fake() -> OdooFake:
    return OdooFake()
