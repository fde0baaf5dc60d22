"""The create values the Odoo sink really sends, checked against the field declarations of odoo/odoo's models.

The Odoo sink delivers an invoice and its credit note to the stand-in; every ``create`` it sent
(``account.move`` with its ``invoice_line_ids``, ``res.partner``) is checked against
tests/fakes/specs/odoo_models_fields.json, trimmed from odoo/odoo ``addons/account/models/account_move.py``,
``account_move_line.py`` and ``odoo/addons/base/models/res_partner.py`` (commits in the file). Odoo publishes
no machine-readable API spec (each database serves its own ``/doc`` page); the models' field
declarations are what its ORM checks ``create`` against.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from sinks.odoo import OdooSink
from tests.fakes.targets.odoo import OdooFake, vals_problems
from tests.support import sample_invoice, sink_under_test

SINK = OdooSink


async def _captured(fake: OdooFake) -> list[tuple[str, dict[str, Any]]]:
    """(model, vals) of every create the sink sent for an invoice and its credit note."""
    from sinks.delivery import deliver

    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(2, targets=("odoo",)), sample_invoice(2, targets=("odoo",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    out = []
    for req in fake.requests:
        model, method = req.path.split("/")[3:5]
        if method == "create":
            out.extend((model, vals) for vals in json.loads(req.body, parse_float=Decimal)["vals_list"])
    return out


async def test_every_create_the_sink_sends_uses_only_fields_odoo_declares(fake: OdooFake) -> None:
    captured = await _captured(fake)
    models = [m for m, _ in captured]
    assert models.count("account.move") == 2 and "res.partner" in models
    for model, vals in captured:
        assert vals_problems(model, vals) == [], (model, vals)
    refund = [v for m, v in captured if m == "account.move"][1]
    assert refund["move_type"] == "out_refund" and isinstance(refund["reversed_entry_id"], int)
    assert all(isinstance(cmd[2]["quantity"], Decimal) for cmd in refund["invoice_line_ids"])


async def test_the_check_fails_on_unknown_fields_computed_fields_and_wrong_types(fake: OdooFake) -> None:
    move = next(v for m, v in await _captured(fake) if m == "account.move")
    broken = {
        "unknown field": dict(move, reversal_of=1),
        "computed total": dict(move, amount_tax=Decimal("1.00")),
        "date as a datetime": dict(move, invoice_date="2026-11-24T00:00:00"),
        "move type not in the selection": dict(move, move_type="customer_invoice"),
        "partner as a name": dict(move, partner_id="Metallbau Steiner GmbH"),
    }
    line = copy.deepcopy(move)
    line["invoice_line_ids"][0][2]["tax_id"] = [[6, 0, [10]]]  # Odoo <= 12's name, gone since
    broken["unknown line field"] = line
    quantity = copy.deepcopy(move)
    quantity["invoice_line_ids"][0][2]["quantity"] = "2"
    broken["quantity as text"] = quantity
    for what, vals in broken.items():
        assert vals_problems("account.move", vals), what
