"""The gate before the number, on the real broker: signed webhooks → gateway → worker.

* Drafts missing what the law requires (buyer address, country, name; a seller without a VAT id;
  a One-Stop-Shop rate) are parked with that reason and take no number; the other orders keep
  consecutive numbers; once the reference data is fixed, `dlq replay` issues each with the next
  number of its series and the audit finds no hole.
* Poison values sent signed per platform (Shopify, Stripe, Sage Intacct) each give a correct invoice
  or a dead letter whose reason names the field and the value in plain words; none leaves a hole and
  no metric raises an error after an invoice is published.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from invoicing.audit_cli import audit_topic
from domain.codec import decode
from infra.dead_letters import read_dead_letters, replay
from domain.documents import render_ubl, ubl_profile
from domain.documents.validate import validate_ubl
from infra.reference_store import publish_reference
from demo.samples import sage_intacct as sage
from demo.samples import shopify as shop
from demo.samples import stripe as stripe_samples
from tests.support import WorkerProcess, read_topic, running_gateway, source_from_env, wait_until
from tests.streams.test_pipeline_e2e import check_numbering, invoices_on_topic, post_all, prepare

pytestmark = pytest.mark.slow
SECRET = "gate-secret"
NOW = datetime.now(timezone.utc)
CLASS_NAMES = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b|<class|object has no attribute")


def _shopify(n: int, edit: Any, event: str) -> tuple[Any, str]:
    doc = shop.shopify_payload(n, random.Random(n))
    doc["id"] = 7_700_000_000_000 + n
    edit(doc)
    return shop._request("orders/fulfilled", json.dumps(doc).encode(), SECRET, event, NOW), str(doc["id"])


def _unknown(customer_id: int, **bill: Any) -> Any:
    """A customer not in the reference data, its billing address changed by *bill*."""
    def edit(doc: dict[str, Any]) -> None:
        _stranger(doc, customer_id)
        doc["billing_address"] = {**doc["billing_address"], **bill}
    return edit


def _stranger(doc: dict[str, Any], customer_id: int) -> None:
    """Neither the customer id nor the e-mail is in the reference data."""
    email = f"ap-{customer_id}@unknown.example"
    doc["customer"].update(id=customer_id, email=email)
    doc.update(email=email, contact_email=email)


def _nameless(customer_id: int) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        _unknown(customer_id, company=None, first_name=None, last_name=None, name=None)(doc)
        doc["customer"].update(first_name=None, last_name=None)
    return edit


def _no_address(customer_id: int) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        _stranger(doc, customer_id)
        doc["billing_address"] = None
        doc["shipping_address"] = None
    return edit


FIXED_REFERENCE = {
    "sellers": [{"seller_id": "kompressor-at", "name": "Kompressoren Wien GmbH", "vat_id": "ATU12345678",
                 "invoice_prefix": "ATI", "credit_note_prefix": "ATC",
                 "address": {"line1": "Ringstrasse 1", "city": "Wien", "postal_code": "1010", "country": "AT"}}],
    "customers": [
        {"customer_id": "C-9001", "name": "Druckluft Nord GmbH", "external_ids": ["shopify:99001"],
         "address": {"line1": "Kai 4", "city": "Kiel", "postal_code": "24103", "country": "DE"}},
        {"customer_id": "C-9002", "name": "Air Systems Ltd", "external_ids": ["shopify:99002"],
         "address": {"line1": "1 Quay St", "city": "Cork", "postal_code": "T12 X70A", "country": "IE"}},
        {"customer_id": "C-9003", "name": "Werkzeugbau Ost KG", "external_ids": ["shopify:99003"],
         "address": {"line1": "Ring 9", "city": "Dresden", "postal_code": "01067", "country": "DE"}},
    ],
}


async def test_refused_drafts_take_no_number_and_replay_with_the_next_one(bootstrap: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = await prepare(tmp_path, bootstrap)
    # a second legal entity whose VAT id is missing, and a customer it bills
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({
        "sellers": [{**FIXED_REFERENCE["sellers"][0], "vat_id": None}],
        "customers": [{"customer_id": "C-9004", "name": "Wiener Werkstätten", "seller_id": "kompressor-at",
                       "external_ids": ["shopify:99004"],
                       "address": {"line1": "Gasse 2", "city": "Wien", "postal_code": "1020", "country": "AT"}}]}))
    await publish_reference(settings, bootstrap, broken)
    source = source_from_env("shopify", monkeypatch, SECRET)
    cases = {
        "address missing": _shopify(1, _no_address(99001), "g-1"),
        "country missing": _shopify(2, _unknown(99002, country="", country_code=""), "g-2"),
        "name missing": _shopify(3, _nameless(99003), "g-3"),
        "seller VAT id missing": _shopify(4, _unknown(99004), "g-4"),
    }
    words = {"address missing": "buyer address missing", "country missing": "buyer address lacks country",
             "name missing": "buyer name missing", "seller VAT id missing": "seller VAT id or tax registration missing"}
    good = [shop.order(n, random.Random(n), SECRET, NOW) for n in range(10, 16)]
    requests = []
    for i, g in enumerate(good):  # refused drafts between good orders
        requests.append(g.requests[-1])
        if i < len(cases):
            requests.append(list(cases.values())[i][0])
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            assert set(await post_all(base, requests)) == {200}
        msgs = await invoices_on_topic(bootstrap, settings, len(good))
        assert await wait_until(lambda: _dead_count(settings, bootstrap, len(cases)), timeout=60), worker.log()[-3000:]
        letters = await read_dead_letters(settings, bootstrap)
        by_order = {e.record["key"].decode(): e.record for e in letters}
        for name, (_req, order_id) in cases.items():
            letter = by_order[f"shopify:{order_id}"]
            assert letter["stage"] == "bill" and words[name] in letter["reason"], (name, letter["reason"])
            assert "replay" in letter["reason"] and not CLASS_NAMES.search(letter["reason"]), letter["reason"]
        first = [decode("invoice", m.value) for m in msgs]
        assert len(first) == len(good)
        check_numbering(first)  # the refused drafts left no hole between the good ones
        assert worker.metric("invoicing_drafts_refused_total", stage="bill") >= len(cases)

        fixed = tmp_path / "fixed.yaml"
        fixed.write_text(yaml.safe_dump(FIXED_REFERENCE))
        await publish_reference(settings, bootstrap, fixed)
        await _loaded(worker)
        assert await replay(settings, bootstrap, stage="bill") == len(cases)
        msgs = await invoices_on_topic(bootstrap, settings, len(good) + len(cases))
        everything = {m.key: decode("invoice", m.value) for m in msgs}
        assert len(everything) == len(good) + len(cases), worker.log()[-3000:]
        check_numbering(list(everything.values()))
        replayed = [i for i in everything.values() if any(o in i["orders"][0] for _r, o in cases.values())]
        de = sorted(i["sequence"] for i in replayed if i["series"] == "kompressor-de/INVOICE")
        top = max(i["sequence"] for i in first if i["series"] == "kompressor-de/INVOICE")
        assert de == list(range(top + 1, top + 4)), "the replayed drafts took the next numbers of their series"
        (at,) = [i for i in replayed if i["series"] == "kompressor-at/INVOICE"]
        assert at["number"].startswith("ATI-") and at["sequence"] == 1 and at["seller"]["vat_id"] == "ATU12345678"
        report = await audit_topic(settings, bootstrap)
        assert report.ok, report.text()
    finally:
        worker.stop()


def _line_edit(**changes: Any) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        doc["line_items"][0].update(changes)
    return edit


def _sage(n: int, event: str, edit: Any) -> tuple[Any, str]:
    doc = sage.document(n, "Converted", NOW)
    doc["docId"] = f"Sales Order-P{n}"
    edit(doc)
    return sage._request(json.dumps(doc).encode(), SECRET, datetime.now(timezone.utc), event), doc["docId"]  # the JWT expires 5 min after


def _stripe(n: int, edit: Any) -> tuple[Any, str]:
    doc = stripe_samples.stripe_event(n, random.Random(n))
    doc["id"] = f"evt_poison_{n}"
    edit(doc["data"]["object"])  # type: ignore[index]
    # signed now: Stripe refuses a signature older than 300 s, and NOW is taken when the module is collected
    return stripe_samples.signed(json.dumps(doc).encode(), SECRET, datetime.now(timezone.utc)), doc["id"]  # type: ignore[return-value]


def _stripe_negative(inv: dict[str, Any]) -> None:
    line = inv["lines"]["data"][0]
    line["quantity"], line["amount"] = -1, -int(line["pricing"]["unit_amount_decimal"])


def _sage_minus_two(doc: dict[str, Any]) -> None:
    doc["lines"].append({**doc["lines"][0], "lineNo": 9, "quantity": "-2"})


#: case → (request builder, words the dead letter's reason must hold, or None for "a correct invoice")
POISON: dict[str, tuple[Any, list[str] | None]] = {
    "quantity -3": (lambda: _shopify(31, _line_edit(quantity=-3), "p-31"), ["quantity -3 is not above zero"]),
    "discount larger than its line": (lambda: _shopify(32, _line_edit(
        discount_allocations=[{"amount": "986219.00", "discount_application_index": 0}]), "p-32"),
        ["discount", "larger than the line"]),
    "negative price": (lambda: _shopify(33, _line_edit(price="-50.00"), "p-33"), ["unit price -50"]),
    "quantity 0": (lambda: _shopify(34, _line_edit(quantity=0), "p-34"), ["quantity 0 is not above zero"]),
    "quantity 0.00001": (lambda: _shopify(35, _line_edit(quantity="0.00001"), "p-35"),
                         ["quantity 0.00001 rounds to zero"]),
    "currency XXX": (lambda: _shopify(36, lambda d: d.update(currency="XXX"), "p-36"), ["currency XXX", "no currency"]),
    "currency XTS": (lambda: _shopify(37, lambda d: d.update(currency="XTS"), "p-37"), ["currency XTS", "testing"]),
    "supply date 9999": (lambda: _shopify(38, lambda d: d.update(processed_at="9999-12-31T23:00:00+00:00"), "p-38"),
                         ["supply date 9999-12-31 is outside"]),
    "supply date 1900": (lambda: _shopify(39, lambda d: d.update(processed_at="1900-01-01T12:00:00+00:00"), "p-39"),
                         ["supply date 1900-01-01 is outside"]),
    "supply date 0001": (lambda: _shopify(40, lambda d: d.update(processed_at="0001-01-01T12:00:00+00:00"), "p-40"),
                         ["supply date 0001-01-01 is outside"]),
    "Unknown customer, empty address": (lambda: _shopify(41, _no_address(99041), "p-41"),
                                        ["buyer address missing", "shopify:99041"]),
    "control characters in names": (lambda: _shopify(42, _unknown(99042, company="Acme\x07 Druck\x1bluft\x00 GmbH"),
                                                     "p-42"), None),
    "Stripe quantity -1": (lambda: _stripe(43, _stripe_negative), ["quantity -1 is not above zero"]),
    "Sage Intacct line of -2": (lambda: _sage(44, "p-44", _sage_minus_two), ["quantity -2 is not above zero"]),
}


async def test_poison_values_give_a_correct_invoice_or_a_reason_naming_field_and_value(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = await prepare(tmp_path, bootstrap)
    sources = {p: source_from_env(p, monkeypatch, SECRET) for p in ("shopify", "stripe", "sage-intacct")}
    built = {name: make() for name, (make, _w) in POISON.items()}
    good = [shop.order(n, random.Random(n), SECRET, NOW) for n in range(50, 54)]
    requests = [r for g in good for r in g.requests[-1:]] + [req for req, _ in built.values()]
    random.Random(5).shuffle(requests)
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, sources) as base:
            statuses = await post_all(base, requests)
        assert set(statuses) == {200}, statuses
        refused = [n for n, (_m, w) in POISON.items() if w is not None]
        assert await wait_until(lambda: _dead_count(settings, bootstrap, len(refused)), timeout=90), worker.log()[-3000:]
        msgs = await invoices_on_topic(bootstrap, settings, len(good) + 1)
        letters = [e.record for e in await read_dead_letters(settings, bootstrap)]
        for name, (_make, words) in POISON.items():
            ident = built[name][1]
            mine = [lt for lt in letters if ident in lt["key"].decode() or ident.encode() in (lt["value"] or b"")]
            if words is None:
                assert not mine, (name, mine)
                continue
            assert len(mine) == 1, (name, [lt["reason"] for lt in letters])
            reason = mine[0]["reason"]
            assert all(w in reason for w in words), (name, reason)
            assert not CLASS_NAMES.search(reason), (name, reason)
        invoices = {m.key: decode("invoice", m.value) for m in msgs}
        assert len(invoices) == len(good) + 1, [i["orders"] for i in invoices.values()]
        check_numbering(list(invoices.values()))
        assert all(i["total"] > 0 for i in invoices.values())
        (clean,) = [i for i in invoices.values() if built["control characters in names"][1] in i["orders"][0]]
        assert clean["buyer"]["name"] == "Acme Druck luft GmbH"
        assert validate_ubl(render_ubl(clean), profile=ubl_profile(clean)) == []
        assert "Counters can only be incremented" not in worker.log()
        assert not [lt for lt in letters if lt["stage"] == "issue"], "nothing failed after a number was given"
        report = await audit_topic(settings, bootstrap)
        assert report.ok, report.text()
    finally:
        worker.stop()


async def _dead_count(settings: Any, bootstrap: str, n: int) -> bool:
    return len(await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=2, idle=0.3)) >= n


async def _loaded(worker: WorkerProcess) -> None:
    """Give the worker's reference follower a moment to apply the new records."""
    await asyncio.sleep(2.0)
