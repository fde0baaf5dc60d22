"""End to end on the real broker: signed Shopify webhooks over HTTP → gateway → worker → invoices.

Invoices are read off the `invoices` topic and decoded with fastavro and the .avsc files.
"""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from invoicing.audit_cli import audit_topic
from infra.broker import ensure_topics
from domain.codec import decode, encode
from infra.reference_store import publish_reference
from demo.samples import shopify as shop
from domain.settings import PlatformSettings, Settings
from pydantic import SecretStr
from sources.canonical import order_event, order_line, party
from sources.shopify import Shopify
from schemas import SCHEMA_DIR
from tests.schemas.test_schemas import STANDALONE_DECODER
from tests.support import REPO, WorkerProcess, read_topic, running_gateway, unique_settings, wait_until

pytestmark = pytest.mark.slow
SECRET = "e2e-shopify-secret"
REFERENCE = REPO / "demo" / "data" / "reference.yaml"


async def prepare(tmp_path: Path, bootstrap: str, **overrides: Any) -> Settings:
    settings = unique_settings(tmp_path, **overrides)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, REFERENCE)
    return settings


async def post_all(base: str, requests: list[Any]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        statuses = []
        for req in requests:
            r = await client.post(req.path, content=req.body, headers=dict(req.headers))
            statuses.append(r.status_code)
        return statuses


def orders(first: int, count: int) -> list[Any]:
    at = datetime.now(timezone.utc)
    return [shop.order(n, random.Random(n), SECRET, at) for n in range(first, first + count)]


async def invoices_on_topic(bootstrap: str, settings: Settings, want: int, timeout: float = 90) -> list[Any]:
    msgs: list[Any] = []

    async def enough() -> bool:
        nonlocal msgs
        msgs = await read_topic(bootstrap, settings.topic("invoices"), timeout=5, idle=0.5)
        return len({m.key for m in msgs}) >= want

    await wait_until(enough, timeout=timeout, interval=1.0)
    return msgs


def check_numbering(invoices: list[dict[str, Any]]) -> None:
    by_series: dict[str, list[int]] = defaultdict(list)
    for inv in invoices:
        by_series[inv["series"]].append(inv["sequence"])
    for series, seqs in by_series.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"{series}: holes or duplicates in {sorted(seqs)}"


async def test_signed_webhooks_become_one_invoice_per_order(bootstrap: str, tmp_path: Path) -> None:
    settings = await prepare(tmp_path, bootstrap)
    batch = orders(0, 12)
    requests = [r for o in batch for r in o.requests + o.redeliveries]
    requests += [batch[0].requests[-1], batch[1].requests[-1]]  # two more redeliveries
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            statuses = await post_all(base, requests)
        assert set(statuses) == {200}
        msgs = await invoices_on_topic(bootstrap, settings, len(batch))
        invoices = {m.key: decode("invoice", m.value) for m in msgs}
        assert len(invoices) == len(batch), worker.log()[-3000:]
        # a consumer with nothing but fastavro and schemas/*.avsc reads the same invoices off the topic
        standalone = subprocess.run([sys.executable, "-I", "-c", STANDALONE_DECODER, str(SCHEMA_DIR)],
                                    input="".join(m.value.hex() + "\n" for m in msgs),
                                    capture_output=True, text=True, check=True).stdout.splitlines()
        assert sorted(json.loads(line)["number"] for line in standalone) == sorted(i["number"] for i in invoices.values())
        billed = Counter(o for inv in invoices.values() for o in inv["orders"])
        assert set(billed) == {o.order_ref for o in batch}
        assert all(n == 1 for n in billed.values()), "exactly one invoice per order"
        check_numbering(list(invoices.values()))
        # one receipt per invoice from each target: the folder (the default target) and the register
        receipts = await read_topic(bootstrap, settings.topic("invoicing.delivery-receipts"), count=2 * len(batch), timeout=30)
        delivered: dict[str, set[str]] = defaultdict(set)
        for r in (decode("delivery_receipt", m.value) for m in receipts):
            assert r["status"] == "DELIVERED", r
            delivered[r["target"]].add(r["invoice_id"])
        assert dict(delivered) == {t: {inv["invoice_id"] for inv in invoices.values()} for t in ("folder", "register")}
        files = sorted(p.name for p in (settings.output_dir).glob("*-20*.json"))
        assert files == sorted(f"{inv['number']}.json" for inv in invoices.values())
        assert await wait_until(lambda: worker.metric("invoicing_duplicates_dropped_total") >= 4, timeout=10)
        assert worker.metric("invoicing_invoices_issued_total") == len(batch)
        for inv in invoices.values():
            assert inv["total"] == inv["line_total"] + inv["tax_total"]
            assert inv["lineage"] and inv["lineage"][0]["platform"] == "shopify"
    finally:
        worker.stop()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_killed_worker_neither_loses_nor_doubles(bootstrap: str, tmp_path: Path, store: str) -> None:
    settings = await prepare(tmp_path, bootstrap, store=store)
    first, second = orders(100, 10), orders(110, 10)
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    worker = WorkerProcess(settings, bootstrap).start()
    async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
        await post_all(base, [r for o in first for r in o.requests])
        await invoices_on_topic(bootstrap, settings, 3, timeout=60)
        worker.kill()  # SIGKILL mid-stream: no graceful commit
        assert set(await post_all(base, [r for o in second for r in o.requests + o.redeliveries])) == {200}
        await post_all(base, [r for o in first for r in o.requests])  # platforms retry while we were down
    restarted = WorkerProcess(settings, bootstrap).start()
    try:
        msgs = await invoices_on_topic(bootstrap, settings, 20, timeout=120)
        by_id: dict[bytes, set[bytes]] = defaultdict(set)
        for m in msgs:
            by_id[m.key].add(m.value)
        assert all(len(v) == 1 for v in by_id.values()), "a re-sent invoice is byte-identical"
        invoices = [decode("invoice", next(iter(v))) for v in by_id.values()]
        billed = Counter(o for inv in invoices for o in inv["orders"])
        assert set(billed) == {o.order_ref for o in first + second}, restarted.log()[-3000:]
        assert all(n == 1 for n in billed.values())
        check_numbering(invoices)
        report = await audit_topic(settings, bootstrap)  # what `invoicing audit numbers` reports
        assert report.ok and report.invoices == 20, report.text()
    finally:
        restarted.stop()
        worker.stop()


async def test_unprocessable_event_goes_to_dead_letters_and_replays(bootstrap: str, tmp_path: Path) -> None:
    """An event the worker cannot bill (unknown currency) is parked with its reason; replay sends it back."""
    from infra.dead_letters import read_dead_letters, replay

    settings = await prepare(tmp_path, bootstrap)
    doc = shop.shopify_payload(7, random.Random(7))
    doc["currency"] = "XXQ"
    bad = shop.signed(json.dumps(doc).encode(), SECRET, datetime.now(timezone.utc))
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            assert await post_all(base, [bad]) == [200]
        assert await wait_until(lambda: _count_dead(settings, bootstrap), timeout=60)
        entries = await read_dead_letters(settings, bootstrap)
        assert len(entries) == 1
        assert entries[0].record["stage"] == "normalise" and "XXQ" in entries[0].record["reason"]
        assert await replay(settings, bootstrap) == 1
        # the replayed event fails again (the currency is still unknown): a new dead letter, nothing lost
        assert await wait_until(lambda: _count_dead(settings, bootstrap, 2), timeout=60)
        first, second = await read_dead_letters(settings, bootstrap)
        assert first.replayed and not second.replayed, "each dead letter is replayed once"
        assert second.record["value"] == first.record["value"] and second.record["stage"] == "normalise"
    finally:
        worker.stop()


async def _count_dead(settings: Settings, bootstrap: str, n: int = 1) -> bool:
    msgs = await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=2, idle=0.3)
    return len(msgs) >= n




async def test_cancellation_after_issue_gives_a_credit_note(bootstrap: str, tmp_path: Path) -> None:
    """A cancelled order after its invoice: a credit note in its own series referencing the invoice;
    a payment afterwards only updates the order; nothing is deleted or renumbered."""
    settings = await prepare(tmp_path, bootstrap)
    order = orders(300, 1)[0]
    doc_body = order.requests[-1].body
    at = datetime.now(timezone.utc)
    cancelled = shop._request("orders/cancelled", doc_body, SECRET, "evt-cancel-300", at)
    cancelled_again = shop._request("orders/cancelled", doc_body, SECRET, "evt-cancel-300b", at)
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            await post_all(base, order.requests)
            await invoices_on_topic(bootstrap, settings, 1, timeout=60)
            assert await post_all(base, [cancelled, cancelled, cancelled_again]) == [200, 200, 200]
        msgs = await invoices_on_topic(bootstrap, settings, 2, timeout=60)
        docs = {m.key: decode("invoice", m.value) for m in msgs}
        assert len(docs) == 2, restarted_log(worker)
        invoice = next(d for d in docs.values() if d["document_type"] == "INVOICE")
        note = next(d for d in docs.values() if d["document_type"] == "CREDIT_NOTE")
        assert note["preceding_invoice"] == invoice["number"] and note["preceding_invoice_date"] == invoice["issue_date"]
        assert note["series"].endswith("/CREDIT_NOTE") and note["number"].startswith("CN-") and note["sequence"] == 1
        assert note["total"] == invoice["total"] and note["lines"] == invoice["lines"]
        assert [e["trigger"] for e in note["lineage"]][-1] == "ORDER_CANCELLED"
        assert invoice["number"].startswith("INV-") and invoice["sequence"] == 1, "the invoice keeps its number"
    finally:
        worker.stop()


def restarted_log(worker: WorkerProcess) -> str:
    return worker.log()[-3000:]


async def test_dedup_state_expires_but_a_replay_keeps_its_number(bootstrap: str, tmp_path: Path) -> None:
    """Order states are dropped after the retention (bounded state); the issued invoice stays,
    so the same order replayed afterwards gets the same invoice and number, not a new one."""
    settings = await prepare(tmp_path, bootstrap)
    batch = orders(400, 3)
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    env = {"INVOICING_DEDUP_RETENTION_DAYS": "0.00002", "INVOICING_SWEEP_INTERVAL": "1"}
    worker = WorkerProcess(settings, bootstrap, env=env).start()
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            await post_all(base, [o.requests[-1] for o in batch])
            first = await invoices_on_topic(bootstrap, settings, 3, timeout=60)
            assert await wait_until(lambda: worker.metric("invoicing_order_states_swept_total") >= 3, timeout=30), worker.log()[-2000:]
            assert worker.metric("invoicing_order_states") == 0
            await post_all(base, [o.requests[-1] for o in batch])  # the platform replays, weeks later
        await asyncio.sleep(3)
        msgs = await read_topic(bootstrap, settings.topic("invoices"), timeout=5, idle=1)
        assert {m.key for m in msgs} == {m.key for m in first}, "no new invoice for a replayed order"
        by_key: dict[bytes, set[bytes]] = defaultdict(set)
        for m in msgs:
            by_key[m.key].add(m.value)
        assert all(len(v) == 1 for v in by_key.values()), "the replay re-sends the same invoice, byte for byte"
    finally:
        worker.stop()


async def test_stream_processors_and_sinks_in_separate_workers(bootstrap: str, tmp_path: Path) -> None:
    """Sinks scale apart from the stream processors: two worker processes, each with its own agents."""
    from domain.errors import PipelineError
    from streams.topology import build

    with pytest.raises(PipelineError, match="unknown agents"):
        build(Settings(agents=["bill", "nope"]), bootstrap)
    assert sorted(build(Settings(agents=["deliver"]), bootstrap).app.agents) == ["deliver"]
    settings = await prepare(tmp_path, bootstrap)
    batch = orders(500, 4)
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    streams = WorkerProcess(settings, bootstrap, env={"INVOICING_AGENTS": '["normalise","bill","cycles","issue"]'}).start()
    sinks = WorkerProcess(settings, bootstrap, env={"INVOICING_AGENTS": '["deliver","register_receipts"]',
                                                    "INVOICING_APP_ID": settings.app_id + "-sinks"}).start()
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            await post_all(base, [o.requests[-1] for o in batch])
        msgs = await invoices_on_topic(bootstrap, settings, 4, timeout=60)
        numbers = {decode("invoice", m.value)["number"] for m in msgs}
        assert await wait_until(lambda: {p.stem for p in settings.output_dir.glob("*-20*.json")} == numbers, timeout=60), sinks.log()[-2000:]
        assert sinks.metric("invoicing_invoices_issued_total") == 0, "the sink worker issues nothing"
        assert streams.metric("invoicing_deliveries_total") == 0, "the stream worker delivers nothing"
    finally:
        streams.stop()
        sinks.stop()


async def test_an_issue_request_lost_in_a_crash_is_sent_again(bootstrap: str, tmp_path: Path) -> None:
    """The crash the bill agent guards against: its order state was saved (changelog) but the issue
    request it sent was lost, and the order event was not committed. Built here as the next worker finds
    it: the saved state on the changelog, the event on the orders topic, nothing committed. The event is
    processed again, the request re-sent, and the order invoiced once; a later redelivery of the same
    event (a new message) is only a duplicate."""
    settings = await prepare(tmp_path, bootstrap)
    raw = {"platform": "erp", "event_type": "order.shipped", "received_at": datetime.now(timezone.utc)}
    order = order_event(raw, event_id="evt-crash-1", trigger="SHIPMENT_CONFIRMED", external_order_id="SO-CRASH-1",
                        customer=party("Crash Test GmbH", email="ap@crash.example", line1="Hafenstraße 1", city="Hamburg",
                                         postal_code="20457", country="DE"), currency="EUR",
                        lines=[order_line("Oil filter element", 2, "89.95", sku="KS-FLT-01")])
    key = order["order_key"].encode()
    saved = {"status": "issued", "invoice_id": "inv_lost", "series": "kompressor-de/INVOICE", "events": [order["event_key"]],
             "effect": "issue", "effect_event": order["event_key"], "effect_offset": 0, "trigger": "SHIPMENT_CONFIRMED",
             "paid": False, "updated_ms": int(time.time() * 1000)}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # the changelog of the orders table, as the crashed worker left it
        await admin.create_topics([NewTopic(f"{settings.app_id}-orders-changelog", settings.partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        value = encode("order_event", order)
        first = await producer.send_and_wait(settings.topic("invoicing.orders"), value, key=key)
        assert first.offset == 0
        await producer.send_and_wait(f"{settings.app_id}-orders-changelog", json.dumps(saved).encode(), key=key,
                                     partition=first.partition)
        await producer.send_and_wait(settings.topic("invoicing.orders"), value, key=key)  # a later redelivery
    finally:
        await producer.stop()
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        msgs = await invoices_on_topic(bootstrap, settings, 1, timeout=60)
        assert await wait_until(lambda: worker.metric("invoicing_duplicates_dropped_total", level="event") >= 2, timeout=30)
        await asyncio.sleep(1)
        msgs = await read_topic(bootstrap, settings.topic("invoices"), timeout=5, idle=0.5)
        invoices = {m.key: decode("invoice", m.value) for m in msgs}
        assert [inv["orders"] for inv in invoices.values()] == [[order["order_key"]]], worker.log()[-2000:]
        assert worker.metric("invoicing_invoices_issued_total") == 1
    finally:
        worker.stop()
