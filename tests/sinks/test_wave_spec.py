"""Every GraphQL request the Wave sink really sends, validated against Wave's schema.

Wave publishes no machine-readable schema file; tests/fakes/specs/wave_public.trimmed.graphql is
written from its API reference as copied by third parties (the file's header names them). Each
captured document is parsed and validated against it (fields, arguments, non-null arguments such
as ``sort``) and its variables are coerced to the declared input types (unknown input fields,
missing required ones and wrong types fail). The checker itself is shown to catch each kind of error.
"""
from __future__ import annotations

import json
from typing import Any

from graphql import OperationDefinitionNode, parse, validate
from graphql.execution.values import get_variable_values

from sinks.delivery import deliver
from sinks.wave import CREATE, FIND, FIND_CUSTOMER, WaveSink
from tests.fakes.targets import wave as fake_wave
from tests.support import sample_invoice, sink_under_test

SINK = WaveSink


def problems(query: str, variables: dict[str, Any]) -> list[str]:
    document = parse(query)
    errors = [e.message for e in validate(fake_wave.SCHEMA, document)]
    if errors:
        return errors
    (op,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    coerced = get_variable_values(fake_wave.SCHEMA, op.variable_definitions or [], variables)
    return [e.message for e in coerced] if isinstance(coerced, list) else []


async def test_every_request_the_sink_sends_matches_waves_schema(fake: fake_wave.WaveFake) -> None:
    taxed, zero = sample_invoice(13, targets=("wave",)), sample_invoice(2, targets=("wave",))
    sink = sink_under_test(SINK)
    try:
        results = [await deliver(sink, doc, sink.pipeline) for doc in (taxed, zero, taxed)]
    finally:
        await sink.close()
    assert [r.status for r in results] == ["DELIVERED", "DELIVERED", "ALREADY_PRESENT"], results
    operations = set()
    for req in fake.requests:
        if req.path == "/oauth2/token/":
            continue
        body = json.loads(req.body)
        assert problems(body["query"], body.get("variables") or {}) == [], body
        operations.add(body["query"].split("(")[0])
    assert operations == {"query FindInvoice", "query FindCustomer", "mutation CreateCustomer", "mutation CreateInvoice"}


def test_the_checker_fails_on_unknown_missing_and_mistyped_fields() -> None:
    item = {"productId": fake_wave.PRODUCT, "quantity": "2", "unitPrice": "10.5", "taxes": [{"salesTaxId": fake_wave.SALES_TAX}]}
    good = {"businessId": fake_wave.BUSINESS, "customerId": "c1", "items": [item], "status": "SAVED", "currency": "EUR"}
    assert problems(CREATE, {"input": good}) == []
    unknown = problems(CREATE, {"input": {**good, "items": [{**item, "taxes": [{"salesTaxId": "t", "rate": "19"}]}]}})
    assert unknown and "not to include unknown field 'rate'" in unknown[0]
    missing = problems(CREATE, {"input": {k: v for k, v in good.items() if k != "customerId"}})
    assert missing and "to include required field 'customerId'" in missing[0]
    typed = problems(CREATE, {"input": {**good, "status": "SENT"}})
    assert typed and "Value 'SENT' does not exist in 'InvoiceCreateStatus' enum" in typed[0]
    assert problems(FIND, {"businessId": "b", "number": "INV-1"}) == []
    unsorted = FIND.replace(", sort: [MODIFIED_AT_ASC]", "")
    assert problems(unsorted, {"businessId": "b", "number": "INV-1"}) == [
        "Argument 'Business.invoices(sort:)' of type '[InvoiceSort!]!' is required, but it was not provided."]
    assert problems(FIND_CUSTOMER, {"businessId": "b", "email": 42}) != []
