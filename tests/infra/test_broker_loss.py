"""The broker comes back empty under a running gateway and worker (issue #17).

An embedded broker of this test's own (the session broker is never restarted) is stopped and started
again, memory lost, while the gateway and a worker process run and a platform keeps sending. While
the broker is gone or lacks the pipeline's topics the gateway answers 503 and both readiness checks
fail; the worker notices, logs one error, counts it, recreates its topics and restarts its stream
processors; once the reference data is loaded again (it lived on the broker too), every order the
gateway answered 2xx is invoiced, and so are orders sent after the recovery, numbered after the invoices
issued before the loss (not from 1 again).
"""
from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from infra.broker import EmbeddedBroker, ensure_topics, epoch_topic, free_port, read_epoch
from domain.codec import decode
from infra.reference_store import publish_reference
from demo.samples import shopify as shop
from domain.settings import PlatformSettings
from sources.shopify import Shopify
from tests.support import REPO, WorkerProcess, read_topic, running_gateway, unique_settings, wait_until

pytestmark = pytest.mark.slow
SECRET = "broker-loss-shopify-secret"
REFERENCE = REPO / "demo" / "data" / "reference.yaml"
GATEWAY_CHECK = 0.5  # seconds between the gateway's broker checks
WORKER_CHECK = "2.0"  # the worker's: slower, so the gateway sees the broker back without its topics for a while


async def invoiced_orders(bootstrap: str, topic: str) -> set[str]:
    msgs = await read_topic(bootstrap, topic, timeout=3, idle=0.5)
    return {order for m in msgs for order in decode("invoice", m.value)["orders"]}


async def sequences(bootstrap: str, topic: str) -> dict[str, list[int]]:
    """Per series, the invoice numbers' sequences on *topic*, in topic order."""
    out: dict[str, list[int]] = {}
    for m in await read_topic(bootstrap, topic, timeout=3, idle=0.5):
        invoice = decode("invoice", m.value)
        out.setdefault(invoice["series"], []).append(invoice["sequence"])
    return out


def ready(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


async def test_a_broker_restarted_empty_is_noticed_refused_and_recovered(tmp_path: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    bootstrap = broker.bootstrap
    settings = unique_settings(tmp_path, partitions=2, broker_check_interval=GATEWAY_CHECK)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, REFERENCE)
    worker = WorkerProcess(settings, bootstrap, env={"INVOICING_BROKER_CHECK_INTERVAL": WORKER_CHECK}).start()
    worker_ready = f"http://127.0.0.1:{worker.metrics_port}/readyz"
    invoices = settings.topic("invoices")
    sent: dict[str, list[int]] = {}
    answered: list[tuple[float, int]] = []  # (wall-clock time of the answer, status)
    at = datetime.now(timezone.utc)

    async def send(client: httpx.AsyncClient, n: int) -> None:
        order = shop.order(n, random.Random(n), SECRET, at)
        statuses = sent.setdefault(order.order_ref, [])
        for req in order.requests:
            try:
                statuses.append((await client.post(req.path, content=req.body, headers=dict(req.headers))).status_code)
            except httpx.HTTPError:
                statuses.append(0)
            answered.append((time.time(), statuses[-1]))

    try:
        source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base, \
                httpx.AsyncClient(base_url=base, timeout=30) as client:
            # a working pipeline first
            await send(client, 1)
            assert await wait_until(lambda: invoiced_orders(bootstrap, invoices), timeout=90, interval=1.0), worker.log()[-3000:]
            assert await wait_until(lambda: ready(worker_ready) == 200, timeout=30)
            assert (await client.get("/readyz")).status_code == 200

            before = await sequences(bootstrap, invoices)
            # the broker goes away: nothing is accepted, neither process is ready (and says why), both are alive
            broker.stop()
            await send(client, 2)
            assert set(sent[shop.order(2, random.Random(2), SECRET, at).order_ref]) == {503}
            assert await wait_until(lambda: ready(worker_ready) == 503, timeout=10)
            gateway_answer = await client.get("/readyz")
            assert gateway_answer.status_code == 503 and gateway_answer.json()["checks"]["broker"] != "ok"
            assert httpx.get(worker_ready, timeout=2).json()["checks"]["broker"] != "ok"
            assert worker.metric("invoicing_ready", check="broker") == 0, "the alert InvoicingNotReady can name it"
            assert (await client.get("/healthz")).status_code == 200, "liveness: the gateway runs"
            assert ready(worker_ready.replace("/readyz", "/healthz")) == 200, "liveness: the worker runs"

            # it comes back empty while a platform keeps sending
            broker = EmbeddedBroker(port=port).start()
            restarted, restarted_at = time.monotonic(), time.time()
            stop_sending = asyncio.Event()

            async def keep_sending() -> None:
                n = 100
                while not stop_sending.is_set():
                    await send(client, n)
                    n += 1
                    await asyncio.sleep(0.2)

            sender = asyncio.ensure_future(keep_sending())
            # the worker recreates the topics (a new epoch marker) ...
            assert await wait_until(lambda: read_epoch(settings, bootstrap), timeout=30, interval=0.3), worker.log()[-3000:]
            assert time.monotonic() - restarted < 15
            # ... and the operator loads the reference data again, which lived on the broker too
            await publish_reference(settings, bootstrap, REFERENCE)
            assert await wait_until(lambda: ready(worker_ready) == 200, timeout=60, interval=0.5), worker.log()[-3000:]
            assert (await client.get("/readyz")).status_code == 200
            assert set(httpx.get(worker_ready, timeout=2).json()["checks"].values()) == {"ok"}
            assert worker.metric("invoicing_ready", check="broker") == 1
            await asyncio.sleep(2)
            stop_sending.set()
            await sender
            after = 1000
            await send(client, after)  # sent after the recovery

            before_loss = {shop.order(n, random.Random(n), SECRET, at).order_ref for n in (1, 2)}  # 1 was invoiced
            accepted = {ref for ref, statuses in sent.items() if any(200 <= s < 300 for s in statuses)} - before_loss
            refused = {ref for ref, statuses in sent.items() if statuses and all(s == 503 for s in statuses)}
            (marker,) = await read_topic(bootstrap, epoch_topic(settings), count=1, timeout=10)
            early = [(round(t - restarted_at, 2), status) for t, status in answered
                     if restarted_at < t < marker.timestamp / 1000 and 200 <= status < 300]
            assert not early, f"2xx before the worker recreated the topics (seconds after the restart): {early}"
            assert refused, "events arriving while the topics were gone were refused"
            assert len(accepted) >= 3, sent
            assert all(s in (200, 503) for statuses in sent.values() for s in statuses), sent
            if not await wait_until(lambda: _contains(invoiced_orders(bootstrap, invoices), accepted), timeout=90,
                                    interval=1.0):
                missing = accepted - await invoiced_orders(bootstrap, invoices)
                pytest.fail(f"accepted but not invoiced: {sorted(missing)}; sent: {sent}; worker log:\n{worker.log()[-6000:]}")

            # the invoices topic went with the broker, the numbers did not: numbering goes on after them
            after_loss = await sequences(bootstrap, invoices)
            for series, issued in after_loss.items():
                assert sorted(issued) == list(range(max(before.get(series, [0])) + 1, max(before.get(series, [0])) + 1 + len(issued))), \
                    f"{series}: {sorted(issued)} after {before.get(series)}"
            assert set(before) & set(after_loss), (before, after_loss)

        log = worker.log()
        assert log.count("lost this pipeline's topics") == 1, "one clear error"
        assert worker.metric("invoicing_broker_topics_lost_total") == 1
    finally:
        worker.stop()
        broker.stop()


async def _contains(found: Any, wanted: set[str]) -> bool:
    have: set[str] = await found
    return wanted <= have
