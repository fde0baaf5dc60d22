"""Every request the HubSpot sink really sends, checked against HubSpot's published CRM v3 schemas.

An invoice (with a new contact, VAT through tax rates) and a resumed draft (its stale line items
archived) are delivered through
the sink; each captured JSON body must match its route's schema from
HubSpot/HubSpot-public-api-spec-collection (trimmed in tests/fakes/specs/hubspot_crm_v3.trimmed.json):
no unknown field, every required one (``after`` and ``sorts`` on searches, ``associations`` on
creates), the right types. The checker itself is shown to catch each kind of error.

hubspot-api-client 12 is not used as the reference: its generated models mark neither ``after``
nor ``sorts`` (nor ``associations`` on create) as required, which is how the earlier requests passed.
"""
from __future__ import annotations

import json
from typing import Any

from sinks.delivery import deliver
from sinks.hubspot import HubSpotSink, invoice_properties, line_item_inputs
from tests.fakes.targets import hubspot as fake_hs
from tests.support import sample_invoice, sink_under_test

SINK = HubSpotSink


def _problems(validator: Any, body: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(body)]


async def test_every_request_the_sink_sends_matches_hubspots_spec(fake: fake_hs.HubSpotFake) -> None:
    inv, resumed = sample_invoice(13, targets=("hubspot",)), sample_invoice(5, targets=("hubspot",))
    sink = sink_under_test(SINK)
    try:
        contact = await sink._contact(resumed)
        draft = (await sink._call("POST", "/crm/v3/objects/invoices", "create", {
            "properties": invoice_properties(resumed, "invoicing_number"), "associations": [
                {"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 177}]}]})).json()
        stale = line_item_inputs(resumed, draft["id"], fake_hs.TAX_RATES)[:1]  # a crashed run left one line item
        await sink._call("POST", "/crm/v3/objects/line_items/batch/create", "add line items", {"inputs": stale})
        results = [await deliver(sink, doc, sink.pipeline) for doc in (inv, resumed, inv)]
    finally:
        await sink.close()
    assert [r.status for r in results] == ["DELIVERED", "DELIVERED", "ALREADY_PRESENT"], results
    checked: set[str] = set()
    for req in fake.requests:
        known, validator = fake_hs.validator_for(req.method, req.path)
        assert known, f"{req.method} {req.path} is not a route of the spec"
        if validator is not None:
            assert _problems(validator, json.loads(req.body)) == [], (req.method, req.path, req.body)
            checked.add(req.path.rsplit("/", 1)[-1] if not req.path.endswith(("invoices", "contacts")) else req.path)
    searches = [json.loads(r.body) for r in fake.requests if r.path.endswith("/search")]
    assert searches and all(s["after"] == "0" and s["sorts"] for s in searches)
    creates = [json.loads(r.body) for r in fake.requests if r.method == "POST" and r.path.endswith(("/contacts", "/invoices"))]
    assert creates and all("associations" in c for c in creates)
    assert {"search", "create", "archive", "/crm/v3/objects/contacts", "/crm/v3/objects/invoices"} <= checked


def test_the_checker_fails_on_unknown_missing_and_mistyped_fields() -> None:
    search = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@b.c"}]}],
              "properties": ["email"], "limit": 1, "after": "0", "sorts": ["hs_object_id"]}
    assert _problems(fake_hs.SEARCH, search) == []
    assert _problems(fake_hs.SEARCH, {k: v for k, v in search.items() if k != "sorts"}) == ["'sorts' is a required property"]
    assert _problems(fake_hs.SEARCH, {k: v for k, v in search.items() if k != "after"}) == ["'after' is a required property"]
    assert _problems(fake_hs.SEARCH, {**search, "limit": "1"}) == ["'1' is not of type 'integer'"]
    assert "Additional properties are not allowed ('sort' was unexpected)" in _problems(fake_hs.SEARCH, {**search, "sort": []})
    create = {"properties": {"email": "a@b.c"}, "associations": []}
    assert _problems(fake_hs.CREATE, create) == []
    assert _problems(fake_hs.CREATE, {"properties": {"email": "a@b.c"}}) == ["'associations' is a required property"]
    assert _problems(fake_hs.CREATE, {**create, "properties": {"price": 12.5}}) == ["12.5 is not of type 'string'"]
