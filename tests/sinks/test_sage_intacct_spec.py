"""The requests the Sage Intacct sink really sends, checked against Sage Intacct's published AR OpenAPI definition.

The sink delivers an invoice (creating its customer) and the credit note to the stand-in; every
create body it sent is validated with jsonschema against the trimmed copy of the Accounts
Receivable definition in tests/fakes/specs/sage_intacct_ar.trimmed.json (source repo, path and
commit in the file): ``invoice-create``, ``adjustment-create`` and ``customer-create``. The check
must fail on an unknown field, a missing required field and a wrong type.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from sinks.delivery import deliver
from sinks.sage_intacct import SageIntacctSink
from tests.fakes.targets.sage_intacct import SageIntacctFake, spec_validator
from tests.support import sample_invoice, sink_under_test

SINK = SageIntacctSink
SCHEMAS = {"/objects/accounts-receivable/invoice": "invoice-create", "/objects/accounts-receivable/adjustment": "adjustment-create",
           "/objects/accounts-receivable/customer": "customer-create"}


async def _bodies(fake: SageIntacctFake) -> dict[str, Any]:
    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(8, targets=("sage-intacct",)),
                    sample_invoice(8, targets=("sage-intacct",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    return {SCHEMAS[r.path[len("/ia/api/v1"):]]: json.loads(r.body, parse_float=Decimal)
            for r in fake.requests if r.method == "POST" and r.path[len("/ia/api/v1"):] in SCHEMAS}


def _errors(schema: str, body: Any) -> list[str]:
    return [e.message for e in spec_validator(schema).iter_errors(body)]


async def test_every_create_body_validates_against_intaccts_definition(fake: SageIntacctFake) -> None:
    bodies = await _bodies(fake)
    assert set(bodies) == {"invoice-create", "adjustment-create", "customer-create"}
    for schema, body in bodies.items():
        assert _errors(schema, body) == [], schema


async def test_the_check_fails_on_unknown_missing_and_wrong_types(fake: SageIntacctFake) -> None:
    bodies = await _bodies(fake)
    adj, inv = bodies["adjustment-create"], bodies["invoice-create"]
    assert _errors("adjustment-create", dict(adj, invoiceKey="12"))                         # unknown field
    assert _errors("adjustment-create", {k: v for k, v in adj.items() if k != "createdDate"})  # required
    line = copy.deepcopy(adj)
    line["lines"][0]["txnCurrency"]["amount"] = Decimal("-34450.00")                        # a number, not a string
    assert _errors("adjustment-create", line)
    entry = copy.deepcopy(inv)
    entry["lines"][0]["taxEntries"][0]["taxDetail"] = {"id": "DE Sales 19"}                # not the entry's field name
    assert _errors("invoice-create", entry)
    total = dict(inv, totalTxnAmount="100.00")                                               # read-only, never sent
    assert _errors("invoice-create", total)
    tax_line = copy.deepcopy(inv)
    tax_line["lines"][0]["isSubtotal"] = "tax"                                               # a tax GL line is read-only
    assert _errors("invoice-create", tax_line)
