"""Every request the Stripe sink really sends, checked against stripe-python's request models.

An invoice whose VAT goes as tax rates, one whose VAT goes as manual tax amounts (per-line
rounding trap) and a credit note are delivered through the sink; each captured request (form
body or query string) must match the ``stripe.params`` TypedDict of its route (stripe-python,
generated from stripe/openapi ``spec3.json``): no unknown parameter, every required one, integers,
numbers and booleans well-formed. The checker itself is shown to catch each kind of error.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import stripe.params as sp

from sinks.delivery import deliver
from sinks.stripe import StripeSink
from tests.fakes.targets import stripe as fake_stripe
from tests.support import sample_invoice, sink_under_test

SINK = StripeSink


def _params(req: Any) -> dict[str, Any]:
    pairs = parse_qsl(req.body.decode(), keep_blank_values=True) if req.method == "POST" else req.query.items()
    return fake_stripe.tree(pairs)


async def test_every_request_the_sink_sends_matches_stripe_pythons_models(fake: fake_stripe.StripeFake) -> None:
    plain, trap = sample_invoice(13, targets=("stripe",)), sample_invoice(4, targets=("stripe",), lines=[("KS-FLT-01", "1", "0.13")] * 3)
    note = sample_invoice(13, targets=("stripe",), document_type="CREDIT_NOTE")
    sink = sink_under_test(SINK)
    try:
        results = [await deliver(sink, doc, sink.pipeline) for doc in (plain, trap, note, note)]
    finally:
        await sink.close()
    assert [r.status for r in results] == ["DELIVERED", "DELIVERED", "DELIVERED", "ALREADY_PRESENT"], results
    routes: set[str] = set()
    for req in fake.requests:
        model = fake_stripe.model_for(req.method, req.path)
        assert model is not None, f"{req.method} {req.path} is not a route stripe-python models"
        assert fake_stripe.check_params(_params(req), model) == [], (req.method, req.path, _params(req))
        routes.add(model.__name__)
    assert {"TaxRateCreateParams", "TaxRateListParams", "InvoiceAddLinesParams", "CreditNoteCreateParams",
            "CreditNoteListParams", "InvoiceCreateParams", "InvoiceFinalizeInvoiceParams"} <= routes
    bodies = [_params(r) for r in fake.requests if r.path.endswith("/add_lines")]
    assert any("tax_rates" in ln for b in bodies for ln in b["lines"].values())
    assert any("tax_amounts" in ln for b in bodies for ln in b["lines"].values())


def test_the_checker_fails_on_unknown_missing_and_mistyped_parameters() -> None:
    good = {"display_name": "VAT", "inclusive": "false", "percentage": "19", "metadata": {"invoicing_tax": "vat:S:19"}}
    assert fake_stripe.check_params(good, sp.TaxRateCreateParams) == []
    assert fake_stripe.check_params({**good, "rate": "19"}, sp.TaxRateCreateParams)[0][:2] == ("parameter_unknown", "rate")
    missing = {k: v for k, v in good.items() if k != "inclusive"}
    assert fake_stripe.check_params(missing, sp.TaxRateCreateParams)[0][:2] == ("parameter_missing", "inclusive")
    assert fake_stripe.check_params({**good, "percentage": "19 %"}, sp.TaxRateCreateParams)[0][0] == "parameter_invalid_number"
    assert fake_stripe.check_params({**good, "inclusive": "no"}, sp.TaxRateCreateParams)[0][0] == "parameter_invalid_boolean"
    line = {"type": "custom_line_item", "unit_amount": "1.5", "tax_rates": {"0": "txr_1"}}
    problems = fake_stripe.check_params({"invoice": "in_1", "lines": {"0": line}}, sp.CreditNoteCreateParams)
    assert problems and problems[0][:2] == ("parameter_invalid_integer", "lines[0].unit_amount")
    nested = {"lines": {"0": {"amount": "100", "tax_amounts": {"0": {"amount": "19", "taxable_amount": "100",
                                                                       "tax_rate_data": {"display_name": "VAT", "percentage": "19"}}}}}}
    assert fake_stripe.check_params(nested, sp.InvoiceAddLinesParams) == [
        ("parameter_missing", "lines[0].tax_amounts[0].tax_rate_data.inclusive",
         "Missing required param: lines[0].tax_amounts[0].tax_rate_data.inclusive.")]
