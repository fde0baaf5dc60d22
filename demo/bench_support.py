"""What `invoicing bench`'s measurements share: signed Shopify raw events, producing and counting on topics,
worker processes, and the bench's settings and reference data (no delivery targets)."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from demo.samples import shopify as shop
from demo.samples.invoices import REFERENCE_FILE
from domain.codec import encode
from domain.settings import PlatformSettings, Settings, load_settings
from infra.broker import ensure_topics
from infra.reference_store import publish_reference
from sources.base import InboundRequest
from sources.records import raw_event_record
from sources.shopify import Shopify

__all__ = ["SECRET", "raw_events", "produce", "count_until", "start_worker", "stop", "bench_settings", "bench_reference",
           "until_all_answer"]

SECRET = "bench-secret"


def raw_events(count: int, offset: int) -> list[tuple[bytes, bytes]]:
    """(key, encoded RawEvent) for *count* distinct Shopify orders, as the gateway would publish them."""
    src = Shopify(PlatformSettings(secret=None))
    at = datetime.now(timezone.utc)
    out = []
    for n in range(offset, offset + count):
        req = shop.order(n, random.Random(n), SECRET, at).requests[-1]
        inbound = InboundRequest(method="POST", path=req.path, query="",
                                 headers={k.lower(): v for k, v in req.headers.items()}, body=req.body)
        info = src.describe(inbound)
        out.append((f"shopify:{info.event_id}".encode(), encode("raw_event", raw_event_record("shopify", info, inbound, src))))
    return out


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=False,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def count_until(bootstrap: str, topic: str, want: int, timeout: float,
                       arrivals: dict[bytes, float] | None = None) -> tuple[int, float]:
    """Read *topic* from the start until *want* distinct keys; returns (count, time of the last)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                fetch_max_wait_ms=20)
    await consumer.start()
    keys: set[bytes] = set()
    last = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        while len(keys) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    if m.key not in keys:
                        keys.add(m.key)
                        last = now
                        if arrivals is not None:
                            arrivals[m.key] = time.time()
    finally:
        await consumer.stop()
    return len(keys), last


def start_worker(settings: Settings, bootstrap: str, out: Path, metrics_port: int = 0,
                 name: str = "", env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A worker process running the stream processors up to ``issue`` (no delivery targets), logging to *out*;
    *env* overrides its settings."""
    full_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INVOICING_TOPIC_PREFIX": settings.topic_prefix,
           "INVOICING_APP_ID": settings.app_id, "INVOICING_REBALANCE_TIMEOUT": "3",
           "INVOICING_METRICS_PORT": str(metrics_port), "INVOICING_DATA_DIR": str(out / f"state-{settings.app_id}{name}"),
           "INVOICING_PARTITIONS": str(settings.partitions), "INVOICING_OUTPUT_DIR": str(out),
           "INVOICING_SHOPIFY_SECRET": SECRET, "INVOICING_DEFAULT_TARGETS": "[]",
           "INVOICING_REGISTER_RECEIPTS": "false", "INVOICING_LINGER_MS": "5",
           "INVOICING_AGENTS": '["normalise","bill","cycles","issue"]', **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "invoicing", "worker"], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=open(out / f"worker-{settings.app_id}{name}.log", "wb"), start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def bench_settings(bootstrap: str, tag: str, partitions: int = 1) -> Settings:
    settings = load_settings(bootstrap=bootstrap, topic_prefix=f"bench-{tag}.", app_id=f"bench-{tag}", partitions=partitions)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, bench_reference())
    return settings


def bench_reference() -> Path:
    """The demo reference data with no delivery targets: the benchmark stops at the invoices topic."""
    import yaml

    data = yaml.safe_load(REFERENCE_FILE.read_text())
    data["defaults"]["targets"] = []
    for c in data["customers"]:
        c["targets"] = []
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-reference-{os.getpid()}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


async def until_all_answer(urls: list[str], timeout: float, failure: str) -> None:
    """Poll *urls* until every one answers 200 at the same time.

    Raises:
        RuntimeError: *failure*, when that did not happen within *timeout* seconds.
    """
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            codes = []
            for url in urls:
                try:
                    codes.append((await client.get(url)).status_code)
                except httpx.HTTPError:
                    codes.append(0)
            if all(c == 200 for c in codes):
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{failure} within {timeout:g} s")
