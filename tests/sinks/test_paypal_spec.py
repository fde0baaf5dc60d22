"""Every request the PayPal sink really sends, checked against PayPal's Invoicing v2 spec.

Invoices (one with a 40-character number, one resumed from a draft) are delivered through the
sink; each captured JSON body must match its operation's schema in paypal/paypal-rest-api-specifications
``openapi/invoicing_v2.json`` (trimmed in tests/fakes/specs/paypal_invoicing_v2.trimmed.json, read-only
and unknown fields rejected): ``invoice`` for the create, ``search_data`` for the search,
``notification`` for the send. The checker itself is shown to catch each kind of error.
"""
from __future__ import annotations

import json
from typing import Any

from sinks.delivery import deliver
from domain.settings import platform_settings
from sinks.paypal import PayPalSettings, PayPalSink, to_paypal
from tests.fakes.targets import paypal as fake_paypal
from tests.support import sample_invoice, sink_under_test

SINK = PayPalSink
ROUTES_WITHOUT_BODY = {("POST", "/v1/oauth2/token")}


def _problems(body: Any, schema: str) -> list[str]:
    return [e.message for e in fake_paypal._validator(schema).iter_errors(body)]


async def test_every_request_the_sink_sends_matches_paypals_spec(fake: fake_paypal.PayPalFake) -> None:
    plain, resumed = sample_invoice(13, targets=("paypal",)), sample_invoice(5, targets=("paypal",))
    long = dict(sample_invoice(9, targets=("paypal",)), number="INV-2026-" + "0" * 31)
    sink = sink_under_test(SINK)
    try:
        await sink._call("POST", "/v2/invoicing/invoices", "create", to_paypal(resumed, sink.settings))
        results = [await deliver(sink, doc, sink.pipeline) for doc in (plain, resumed, long, plain)]
    finally:
        await sink.close()
    assert [r.status for r in results] == ["DELIVERED", "ALREADY_PRESENT", "DELIVERED", "ALREADY_PRESENT"], results
    used = set()
    for req in fake.requests:
        validator = fake_paypal.validator_for(req.method, req.path)
        if validator is None:
            assert (req.method, req.path) in ROUTES_WITHOUT_BODY, f"{req.method} {req.path} is not an operation of the spec"
            continue
        assert [e.message for e in validator.iter_errors(json.loads(req.body))] == [], (req.path, req.body)
        used.add(validator.schema["$ref"].rsplit("/", 1)[-1])
    assert used == {"invoice", "search_data", "notification"}
    created = [json.loads(r.body) for r in fake.requests if r.path == "/v2/invoicing/invoices"]
    assert any(len(c["detail"]["invoice_number"]) == 40 for c in created)


def test_the_checker_fails_on_unknown_missing_and_mistyped_fields() -> None:
    body = to_paypal(sample_invoice(13, targets=("paypal",)), platform_settings("paypal", PayPalSettings))
    assert _problems(body, "invoice") == []
    assert _problems({**body, "status": "DRAFT"}, "invoice") == ["Additional properties are not allowed ('status' was unexpected)"]
    item = {k: v for k, v in body["items"][0].items() if k != "name"}
    assert _problems({**body, "items": [item]}, "invoice") == ["'name' is a required property"]
    typed = {**body["items"][0], "quantity": 2}
    assert _problems({**body, "items": [typed]}, "invoice") == ["2 is not of type 'string'"]
    tax_amount = {**body["items"][0], "tax": {"name": "VAT", "percent": "19", "amount": {"currency_code": "EUR", "value": "1"}}}
    assert "Additional properties are not allowed ('amount' was unexpected)" in _problems({**body, "items": [tax_amount]}, "invoice")
    number = {**body, "detail": {**body["detail"], "invoice_number": "N" * 128}}
    assert _problems(number, "invoice") == [f"'{'N' * 128}' is too long"]
    assert _problems({"invoice_number": "N" * 26}, "search_data") == [f"'{'N' * 26}' is too long"]


