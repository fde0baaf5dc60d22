"""Odoo stand-in: the JSON-2 API (``POST /json/2/<model>/<method>``) over a tiny in-memory ORM.

Checks what the docs and the source (addons/rpc/controllers/json2.py) fix: POST only,
``Authorization: bearer <API key>``, ``X-Odoo-Database``, a JSON object of named
arguments (``ids``, ``context``, the method's parameters), ``vals_list`` for ``create``.
Create values are checked against the field declarations of odoo/odoo's models
(``tests/fakes/specs/odoo_models_fields.json``, see `vals_problems`): an unknown field, a
computed field that cannot be written or a value of the wrong type is refused as Odoo's
ORM would (``ValueError: Invalid field``).

Amounts are computed the way ``account.move`` computes them: each line's subtotal is
quantity × price rounded to the currency; tax per ``account.tax`` from the subtotals, rounded
per tax over the whole move (``tax_calculation_rounding_method = 'round_globally'``, the
company setting our invoices need) or per line (``'round_per_line'``, Odoo's default; set
``company_rounding``). ``booked`` is filled when a move is posted.
Errors are HTTP 4xx/5xx with ``{"name", "message", "arguments", "context", "debug"}``:
unknown model/method → 404, bad API key → 401, ``UserError``/``ValidationError`` → 422.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

API_KEY = "odoo-api-key-5b1e0c9a7f"
DATABASE = "kompressor-prod"
FIELDS: dict[str, dict[str, dict[str, Any]]] = json.loads(
    (Path(__file__).resolve().parent.parent / "specs" / "odoo_models_fields.json").read_text())
#: account.tax ids of the stand-in, by "<category>:<rate>" (INVOICING_ODOO_TAX_MAP)
TAXES = {"S:19": 10, "S:7": 11, "K:0": 12, "S:6.25": 13, "AE:0": 14, "G:0": 15, "E:0": 16, "O:0": 17,
         "S:4": 18, "S:6.5": 19, "S:7.25": 21}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_EXC = {400: "werkzeug.exceptions.BadRequest", 401: "werkzeug.exceptions.Unauthorized",
        403: "odoo.exceptions.AccessError", 404: "werkzeug.exceptions.NotFound",
        422: "odoo.exceptions.ValidationError", 429: "werkzeug.exceptions.TooManyRequests",
        500: "werkzeug.exceptions.InternalServerError", 503: "werkzeug.exceptions.ServiceUnavailable"}


def odoo_error(status: int, message: str, name: str | None = None) -> Reply:
    return Reply(status, {"name": name or _EXC.get(status, "werkzeug.exceptions.HTTPException"), "message": message,
                          "arguments": [message, status], "context": {},
                          "debug": "Traceback (most recent call last):\n  ...\n"})


def vals_problems(model: str, vals: Any) -> list[str]:
    """What Odoo's ORM would refuse in create *vals* for *model*, by the model's field declarations."""
    spec = FIELDS.get(model)
    if spec is None:
        return [f"model {model!r} is not in the field spec"]
    if not isinstance(vals, dict):
        return [f"{model}: values must be an object, got {type(vals).__name__}"]
    out: list[str] = []
    for name, value in vals.items():
        field = spec.get(name)
        if field is None:
            out.append(f"Invalid field {name!r} on model {model!r}")
        elif field.get("writable") is False:
            out.append(f"{model}.{name} is computed and cannot be written")
        elif value is not False or field["type"] == "boolean":
            out.extend(f"{model}.{name}: {p}" for p in _value_problems(field, value))
    return out


def _value_problems(field: dict[str, Any], value: Any) -> list[str]:
    kind = field["type"]
    number = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    if kind in ("char", "html"):
        return [] if isinstance(value, str) else [f"expected a string, got {value!r}"]
    if kind == "date":
        return [] if isinstance(value, str) and _DATE.match(value) else [f"'{value}' does not match format '%Y-%m-%d'"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"expected a boolean, got {value!r}"]
    if kind == "selection":
        return [] if value in field["selection"] else [f"Wrong value {value!r}"]
    if kind in ("float", "monetary", "integer"):
        return [] if number else [f"expected a number, got {value!r}"]
    if kind == "many2one":
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"expected a record id, got {value!r}"]
    if kind in ("one2many", "many2many"):
        if not isinstance(value, list):
            return [f"expected a list of commands, got {value!r}"]
        out = []
        for cmd in value:
            if not (isinstance(cmd, list) and len(cmd) == 3 and cmd[0] in (0, 6)):
                out.append(f"invalid x2many command {cmd!r}")
            elif cmd[0] == 0 and kind == "one2many":
                out.extend(vals_problems(field["relation"], cmd[2]))
            elif cmd[0] == 6 and not (isinstance(cmd[2], list) and all(isinstance(i, int) for i in cmd[2])):
                out.append(f"invalid set command {cmd!r}")
        return out
    return []


def _round(value: Decimal, rounding: Decimal) -> Decimal:
    return value.quantize(rounding, rounding=ROUND_HALF_UP)


class OdooFake(FakeTarget):
    target = "odoo"

    def __init__(self) -> None:
        super().__init__()
        taxes = {tid: {"id": tid, "name": key, "type_tax_use": "sale", "amount_type": "percent", "price_include": False,
                       "amount": Decimal(key.split(":")[1])} for key, tid in TAXES.items()}
        taxes[20] = {"id": 20, "name": "19% purchase", "type_tax_use": "purchase", "amount_type": "percent",
                     "price_include": False, "amount": Decimal(19)}
        self.models: dict[str, dict[int, dict[str, Any]]] = {
            "res.partner": {7: {"id": 7, "name": "Existing GmbH", "ref": "C-EXIST", "email": "ap@existing.example", "vat": False}},
            "res.currency": {i: {"id": i, "name": c, "rounding": Decimal("1") if c == "JPY" else Decimal("0.01")}
                             for i, c in enumerate(("EUR", "USD", "GBP", "JPY", "CHF", "NOK"), 1)},
            "account.tax": taxes,
            "account.move": {},
            "sale.order": {42: {"id": 42, "name": "S00042", "partner_id": 7, "currency_id": 1, "invoice_ids": [],
                                "lines": [("Compressor", Decimal(2), Decimal("1500.00"), 10)]}},
            "sale.advance.payment.inv": {},
        }
        self.company_rounding = "round_globally"
        self.next_id = 100
        self.posted = 0

    def env(self) -> dict[str, str]:
        return {**super().env(), "INVOICING_ODOO_API_KEY": API_KEY, "INVOICING_ODOO_DATABASE": DATABASE,
                "INVOICING_ODOO_TAX_MAP": json.dumps(TAXES)}

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
        for vals in p["vals_list"]:
            if model in FIELDS:
                problems = vals_problems(model, vals)
                if problems:
                    raise ValueError(problems[0])
            getattr(self, "_check_" + model.replace(".", "_"), lambda v: None)(vals)
        ids = []
        for vals in p["vals_list"]:
            rid = self._new_id()
            self.models[model][rid] = {"id": rid, **vals}
            ids.append(rid)
            if model == "account.move":
                rec = self.models[model][rid]
                rec.update(state="draft", name="/", **self._amounts(rec))
                self.created[str(rid)] = rec
        return ids

    def _amounts(self, move: dict[str, Any]) -> dict[str, Decimal]:
        """amount_untaxed / amount_tax / amount_total as account.move computes them."""
        rounding = self.models["res.currency"][move["currency_id"]]["rounding"]
        untaxed, tax_lines = Decimal(0), Decimal(0)
        tax_base: dict[int, Decimal] = {}
        for _, _, line in move.get("invoice_line_ids", []):
            subtotal = _round(Decimal(line["quantity"]) * Decimal(line["price_unit"]), rounding)
            untaxed += subtotal
            for cmd in line.get("tax_ids", []):
                for tid in cmd[2]:
                    raw = subtotal * self.models["account.tax"][tid]["amount"] / 100
                    tax_base[tid] = tax_base.get(tid, Decimal(0)) + raw
                    tax_lines += _round(raw, rounding)
        tax = tax_lines if self.company_rounding == "round_per_line" else sum(
            (_round(v, rounding) for v in tax_base.values()), Decimal(0))
        return {"amount_untaxed": untaxed, "amount_tax": tax, "amount_total": untaxed + tax}

    def _check_res_partner(self, vals: dict[str, Any]) -> None:
        if not vals.get("name"):
            raise ValueError("The field 'Name' is required.")

    def _check_account_move(self, vals: dict[str, Any]) -> None:
        if vals.get("move_type") not in ("out_invoice", "out_refund"):
            raise ValueError(f"Wrong value for account.move.move_type: {vals.get('move_type')!r}")
        if vals.get("partner_id") not in self.models["res.partner"]:
            raise LookupError("Record does not exist or has been deleted. (Record: res.partner)")
        if vals.get("currency_id") not in self.models["res.currency"]:
            raise LookupError("Record does not exist or has been deleted. (Record: res.currency)")
        if "reversed_entry_id" in vals:
            original = self.models["account.move"].get(vals["reversed_entry_id"])
            if original is None or original.get("move_type") != "out_invoice" or vals["move_type"] != "out_refund":
                raise LookupError("Record does not exist or has been deleted. (Record: account.move)")
        if not vals.get("invoice_line_ids"):
            raise LookupError("You need to add a line before posting.")
        for cmd in vals["invoice_line_ids"]:
            line = cmd[2]
            if not line.get("name") or "quantity" not in line or "price_unit" not in line:
                raise ValueError(f"invoice line needs name, quantity and price_unit: {line!r}")
            for tcmd in line.get("tax_ids", []):
                if any(self.models["account.tax"].get(t, {}).get("type_tax_use") != "sale" for t in tcmd[2]):
                    raise ValueError(f"Invalid tax command {tcmd!r}: not a sale tax of this company")

    def _write(self, model: str, p: dict[str, Any]) -> bool:
        for i in p["ids"]:
            self.models[model][i].update(p["vals"])
        return True

    def _unlink(self, model: str, p: dict[str, Any]) -> bool:
        for i in p["ids"]:
            rec = self.models[model].get(i)
            if rec is None:
                raise LookupError(f"Record does not exist or has been deleted. (Record: {model}({i},))")
            if model == "account.move" and rec["state"] != "draft":
                raise LookupError("You cannot delete an entry which has been posted once.")
            del self.models[model][i]
            self.created.pop(str(i), None)
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
            refund = move["move_type"] == "out_refund"
            move.update(state="posted", name=f"{'RINV' if refund else 'INV'}/2026/{self.posted:05d}")
            linked = move.get("reversed_entry_id")
            self.booked[str(i)] = Booked("credit_note" if refund else "invoice", move["amount_total"], move["amount_tax"],
                                         str(linked) if linked else None)
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
            move.update(self._amounts(move))
            self.models["account.move"][rid] = move
            self.created[str(rid)] = move
            so["invoice_ids"].append(rid)
            move_ids.append(rid)
        return {"type": "ir.actions.act_window", "res_model": "account.move", "res_id": move_ids[0], "view_mode": "form"}


def make_fake() -> OdooFake:
    return OdooFake()
