"""`invoicing bench --state`: dedup state in a worker on the RocksDB store (MISSION.md: ten million keys in
500 MB, one million recovered in 30 s).

*keys* order states (what ``bill`` keeps per order: status, invoice id, series, the platform event keys seen)
are written straight onto the ``orders`` table's changelog topic, as a worker that had deduplicated that many
orders would have left them. A worker (``normalise`` and ``bill``, RocksDB store, an empty state directory)
then starts; one new event is put on the raw topic, and the clock stops when its issue request is out:
``bill`` handles nothing before its table is recovered. The same is done with no keys, and the difference
is the recovery. The worker's resident memory is read from ``/proc`` once the event is through.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from demo.bench_support import bench_settings, count_until, produce, raw_events, start_worker, stop
from domain.errors import ConfigError
from domain.settings import Settings
from infra.broker import free_port, producer
from infra.kafka_read import read_all

__all__ = ["state_recovery", "order_state", "write_changelog"]

#: ``demo.samples.shopify.order(n)`` has the order id ``SHOPIFY_ORDER_ID_BASE + n``
SHOPIFY_ORDER_ID_BASE = 5_800_000_000_000
#: a new order, beyond any bench key count
FRESH_ORDER = 88_888_000
#: the platform event keys a bench order state holds (a created and a paid event, as most orders do)
EVENTS_PER_ORDER = 2


def order_state(n: int) -> tuple[bytes, bytes]:
    """The ``orders`` table's key and value for the *n*-th sample Shopify order (``demo.samples.shopify``)
    once invoiced, shaped as ``streams.bill`` writes them."""
    key = f"shopify:{SHOPIFY_ORDER_ID_BASE + n}"
    state = {"status": "issued", "invoice_id": uuid.uuid5(uuid.NAMESPACE_URL, key).hex, "series": "kompressor-de/INVOICE",
             "effect": "issue", "effect_event": f"{key}:orders/paid:evt-{n}", "effect_offset": n,
             "trigger": "PAYMENT_RECEIVED", "paid": True,
             "events": [f"{key}:orders/create:evt-c{n}", f"{key}:orders/paid:evt-{n}"][:EVENTS_PER_ORDER],
             "updated_ms": 1_764_900_000_000 + n}
    return key.encode(), json.dumps(state, separators=(",", ":")).encode()


async def write_changelog(settings: Settings, bootstrap: str, table: str,
                          records: Iterable[tuple[bytes, bytes | None]], partitions: int | None = None) -> str:
    """Create the compacted changelog topic of the worker's *table* (``settings.partitions`` partitions unless
    *partitions*) and write *records* (key, value; None deletes) onto it, as the worker's table would have.

    Returns:
        the topic's name.
    """
    topic = f"{settings.app_id}-{table}-changelog"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions or settings.partitions,
                                            replication_factor=1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    writer = producer(settings, bootstrap, linger_ms=20, max_batch_size=512 * 1024)
    await writer.start()
    try:
        for key, value in records:
            await writer.send(topic, value, key=key)
        await writer.flush()
    finally:
        await writer.stop()
    return topic


def rss_mb(pid: int) -> float:
    """Resident set size of process *pid* in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _metric(port: int, name: str, **labels: str) -> float:
    """The sum of the worker's samples *name* with *labels* (0 when it does not answer)."""
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            return 0.0
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def _duplicates_dropped(port: int) -> float:
    """The worker's count of events dropped because their order was already invoiced."""
    return await _metric(port, "invoicing_duplicates_dropped_total", level="order")


async def _time_to_first_issue(keys: int, bootstrap: str, out: Path) -> tuple[float, float, float]:
    """(seconds from the worker's start to the first issue request, the worker's RSS in MiB then, the changelog
    records of the orders table it recovered with the bulk read of ``streams.faust_patches``).

    With *keys*, an event of an order in the recovered state goes in beside the new order: the run fails unless
    that one is dropped as a duplicate and only the new order is issued, so the state was really recovered.
    """
    settings = await bench_settings(bootstrap, f"state{keys}-" + uuid.uuid4().hex[:6])
    if keys:
        await write_changelog(settings, bootstrap, "orders", (order_state(n) for n in range(keys)))
    started = time.perf_counter()
    port = free_port()
    worker = start_worker(settings, bootstrap, out, metrics_port=port, name="-state",
                          env={"INVOICING_STORE": "rocksdb://", "INVOICING_AGENTS": '["normalise","bill"]'})
    try:
        events = raw_events(1, FRESH_ORDER) + (raw_events(1, keys // 2) if keys else [])
        await produce(bootstrap, settings.topic("invoicing.raw-events"), events)
        got, _ = await count_until(bootstrap, settings.topic("invoicing.issue-requests"), 1, timeout=1800)
        if not got:
            raise RuntimeError(f"the worker issued nothing within 30 minutes of starting on {keys} keys")
        elapsed, rss = time.perf_counter() - started, rss_mb(worker.pid)
        if keys:
            deadline = time.monotonic() + 60
            while await _duplicates_dropped(port) < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"order {keys // 2} of the {keys} recovered was not recognised as invoiced")
                await asyncio.sleep(0.2)
            requests = [m.value for m in await read_all(bootstrap, settings.topic("invoicing.issue-requests"))]
            if len(requests) != 1 or str(SHOPIFY_ORDER_ID_BASE + FRESH_ORDER).encode() not in requests[0]:
                raise RuntimeError(f"{len(requests)} issue requests where only the new order's was due: "
                                   "the recovered state did not deduplicate")
        return elapsed, rss, await _metric(port, "invoicing_changelog_bulk_recovered_total", table="orders")
    finally:
        stop(worker)


async def state_recovery(bootstrap: str, keys: int, out: Path) -> dict[str, Any]:
    """Recovery time and resident memory of a RocksDB-backed worker holding *keys* order states.

    Raises:
        ConfigError: rocksdict (the RocksDB binding) is not installed.
    """
    if importlib.util.find_spec("rocksdict") is None:
        raise ConfigError("the state benchmark needs the RocksDB store: pip install -e '.[rocksdb]'")
    empty_s, empty_rss, _ = await _time_to_first_issue(0, bootstrap, out)
    full_s, full_rss, bulk = await _time_to_first_issue(keys, bootstrap, out)
    return {"store": "rocksdb", "keys": keys, "recovery_s": round(max(0.0, full_s - empty_s), 1),
            "start_with_keys_s": round(full_s, 1), "start_empty_s": round(empty_s, 1),
            "rss_mb": full_rss, "rss_empty_mb": empty_rss, "bulk_recovered": int(bulk)}
