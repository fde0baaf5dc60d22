"""The IDO inserts the Infor CSI sink really sends, checked against the IDO property list.

Infor publishes no machine-readable spec of CSI's IDOs (each tenant's Mongoose serves its own IDO
metadata), so the inserts are checked against tests/fakes/specs/infor_ido_properties.json, the
property list reconstructed from CSI's IDO names and its SLArinvds extension methods (sources in
the file): an unknown property, a missing required one or a value in the wrong format fails.
"""
from __future__ import annotations

import json
from typing import Any

from sinks.delivery import deliver
from sinks.infor import InforSink
from tests.fakes.targets.infor import InforFake, property_problems
from tests.support import sample_invoice, sink_under_test

SINK = InforSink


async def _inserts(fake: InforFake) -> list[tuple[str, dict[str, Any]]]:
    sink = sink_under_test(SINK)
    try:
        for doc in (sample_invoice(5, targets=("infor",)), sample_invoice(5, targets=("infor",), document_type="CREDIT_NOTE")):
            result = await deliver(sink, doc, sink.pipeline)
            assert result.status == "DELIVERED", result.detail
    finally:
        await sink.close()
    out = []
    for req in fake.requests:
        if "/ido/update/" in req.path:
            ido = req.path.rsplit("/", 1)[1]
            out.extend((ido, {p["Name"]: (None if p["IsNull"] else p["Value"]) for p in change["Properties"]})
                       for change in json.loads(req.body)["Changes"])
    return out


async def test_every_insert_uses_only_the_idos_properties_in_their_formats(fake: InforFake) -> None:
    inserts = await _inserts(fake)
    headers = [r for ido, r in inserts if ido == "SLArinvs"]
    assert [h["Type"] for h in headers] == ["I", "C"] and headers[1]["ApplyToInvNum"]
    assert any(r.get("TaxSystem") == "1" for ido, r in inserts if ido == "SLArinvds")
    for ido, rec in inserts:
        assert property_problems(ido, rec) == [], (ido, rec)


async def test_the_check_fails_on_unknown_missing_and_misformatted_properties(fake: InforFake) -> None:
    inserts = await _inserts(fake)
    header = next(r for ido, r in inserts if ido == "SLArinvs")
    tax = next(r for ido, r in inserts if ido == "SLArinvds" and r.get("TaxSystem"))
    assert property_problems("SLArinvs", dict(header, ApplyToInvoice="5001"))
    assert property_problems("SLArinvs", {k: v for k, v in header.items() if k != "SalesTax"})
    assert property_problems("SLArinvs", dict(header, InvDate="2026-11-24"))
    assert property_problems("SLArinvs", dict(header, Amount=6038.7))
    assert property_problems("SLArinvds", dict(tax, TaxSystem="S"))
    assert property_problems("SLArinvds", dict(tax, TaxRate="19"))
