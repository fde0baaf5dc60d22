"""A real Prometheus (Debian's binary) scrapes a real gateway and worker during a small end-to-end run.

Scrape and rule evaluation every second; the rules are deploy/prometheus/alerts.yml with every ``for``
cut to 1 s (the expressions as shipped). Signed Shopify webhooks go through the gateway, the worker
issues and delivers their invoices, a record nobody can read is parked on the dead-letter topic, and so is
an order the gate refuses at the bill stage (a line of quantity -3). Then:

* every expression of the dashboard and of the rules evaluates without error through the HTTP API,
  and every metric it names exists (declared by the gateway or the worker: Prometheus holds its
  metadata, or has samples of it);
* the metrics the issue asks for have samples: consumer lag, end-to-end latency to invoice and to
  delivery, dead letters pending, invoices and amounts per series and currency, process metrics;
* the dead-letter alert fires;
* the worker's JSON log lines carry platform, event id, order key and invoice number (the bill agent's
  dead-letter line the platform, event id and order key), and no secret.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from demo.samples import shopify as shop
from domain.settings import PlatformSettings
from infra.broker import ensure_topics, free_port
from infra.reference_store import publish_reference
from sources.shopify import Shopify
from tests.deploy.promtool import tool
from tests.support import REPO, WorkerProcess, running_gateway, unique_settings, wait_until

pytestmark = pytest.mark.slow

SECRET = "live-prometheus-shopify-secret"
REFERENCE = REPO / "demo" / "data" / "reference.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "invoicing.json"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
#: metric names PromQL uses that no process of ours exports
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
#: these must have samples after the run, not only be declared
MUST_HAVE_SAMPLES = [
    "invoicing_webhook_requests_total", "invoicing_events_in_total", "invoicing_invoices_issued_total",
    "invoicing_invoiced_amount_total", "invoicing_deliveries_total", "invoicing_webhook_to_invoice_seconds_bucket",
    "invoicing_webhook_to_delivery_seconds_bucket", "invoicing_consumer_lag_messages", "invoicing_dead_letters_pending",
    "invoicing_dead_letters_total", "invoicing_ready", "process_cpu_seconds_total", "process_resident_memory_bytes",
    "invoicing_open_cycles",
]


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def rule_expressions() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [str(r["expr"]) for g in doc["groups"] for r in g["rules"]]


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_groupings))
    keywords = {"and", "or", "unless", "bool", "offset", "le", "e", "Inf", "NaN"}
    return {n for n in names if n not in keywords and not re.fullmatch(r"\d+[smhdwy]?", n)}


def family(name: str) -> set[str]:
    """The names *name*'s family may be declared under (histogram series carry a suffix)."""
    return {name, re.sub(r"_(bucket|sum|count|created)$", "", name)}


@asynccontextmanager
async def start_prometheus(tmp_path: Path, gateway: str, worker: str) -> AsyncIterator[str]:
    rules = tmp_path / "alerts.yml"
    rules.write_text(re.sub(r"(\n\s+for:\s*)\S+", r"\g<1>1s", RULES.read_text()))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "invoicing-gateway", "static_configs": [{"targets": [gateway]}]},
                           {"job_name": "invoicing-worker", "static_configs": [{"targets": [worker]}]}],
    }))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async def ready() -> bool:
            return await _status(f"{url}/-/ready") == 200

        assert await wait_until(ready, timeout=30), \
            (tmp_path / "prometheus.log").read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


async def _status(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0


async def api(url: str, path: str, **params: str) -> dict[str, Any]:
    """Prometheus' HTTP API, asynchronously: the gateway under test answers scrapes on this same event loop."""
    async with httpx.AsyncClient(timeout=10) as client:
        doc: dict[str, Any] = (await client.get(f"{url}{path}", params=params)).json()
    return doc


async def test_prometheus_scrapes_the_pipeline_and_every_dashboard_and_rule_expression_works(
        bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(tmp_path, partitions=1)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, REFERENCE)
    worker = WorkerProcess(settings, bootstrap, env={"INVOICING_OPS_CHECK_INTERVAL": "1", "INVOICING_LOG_FORMAT": "json",
                                                     "INVOICING_LOG_LEVEL": "INFO",
                                                     "INVOICING_SHOPIFY_SECRET": SECRET}).start()
    try:
        source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base, \
                httpx.AsyncClient(base_url=base, timeout=30) as client:
            gateway = urlparse(base).netloc
            async with start_prometheus(tmp_path, gateway, f"127.0.0.1:{worker.metrics_port}") as url:
                await _run(url, client, settings, bootstrap, worker)
    finally:
        worker.stop()


async def _run(url: str, client: httpx.AsyncClient, settings: Any, bootstrap: str, worker: WorkerProcess) -> None:
    at = datetime.now(timezone.utc)
    orders = [shop.order(n, random.Random(n), SECRET, at) for n in (1, 2)]
    for sample in orders:
        for req in sample.requests:
            assert (await client.post(req.path, content=req.body, headers=dict(req.headers))).status_code == 200
    refused = shop.shopify_payload(3, random.Random(3))
    refused["id"] = 7_700_000_000_003
    refused["line_items"][0]["quantity"] = -3  # type: ignore[index]
    req = shop._request("orders/fulfilled", json.dumps(refused).encode(), SECRET, "live-refused-3", at)
    assert (await client.post(req.path, content=req.body, headers=dict(req.headers))).status_code == 200
    forged = orders[0].requests[0]
    assert (await client.post(forged.path, content=forged.body + b" ", headers=dict(forged.headers))).status_code == 401
    # a record nobody can read: parked by the normalise agent
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("invoicing.raw-events"), b"not avro", key=b"shopify:unreadable")
    finally:
        await producer.stop()

    async def samples(expr: str) -> list[Any]:
        doc = await api(url, "/api/v1/query", query=expr)
        return list(doc["data"]["result"]) if doc.get("status") == "success" else []

    delivered = lambda: samples("sum(invoicing_webhook_to_delivery_seconds_count) >= 2")  # noqa: E731
    assert await wait_until(delivered, timeout=90, interval=1.0), worker.log()[-4000:]
    firing = 'ALERTS{alertname="InvoicingDeadLetterPending", alertstate="firing", stage="normalise"}'
    assert await wait_until(lambda: samples(firing), timeout=30, interval=1.0), \
        (await samples("invoicing_dead_letters_pending"), worker.log()[-3000:])
    assert await wait_until(lambda: samples('invoicing_dead_letters_pending{stage="bill"} > 0'), timeout=30,
                            interval=1.0), worker.log()[-3000:]
    assert await wait_until(lambda: samples('invoicing_consumer_lag_messages{topic=~".*invoicing.raw-events"}'),
                            timeout=20, interval=1.0)
    await asyncio.sleep(3)  # a few more scrapes, so that every rate() has two samples in its window

    # every expression evaluates, and every metric it names exists
    declared: set[str] = set((await api(url, "/api/v1/metadata"))["data"])
    declared |= set((await api(url, "/api/v1/label/__name__/values"))["data"])
    problems = []
    for expr in dashboard_expressions() + rule_expressions():
        doc = await api(url, "/api/v1/query", query=expr.replace("$__rate_interval", "10s"))
        if doc.get("status") != "success":
            problems.append(f"{expr}: {doc.get('error')}")
        for name in metric_names(expr) - PROMETHEUS_OWN:
            if not family(name) & declared:
                problems.append(f"{expr}: no process exports {name}")
    assert not problems, "\n".join(problems)

    missing = [name for name in MUST_HAVE_SAMPLES if not await samples(name)]
    assert not missing, f"no samples of {missing}"
    issued = await samples("invoicing_invoices_issued_total")
    assert all(s["metric"].get("series") and s["metric"].get("currency") for s in issued), issued
    async def both_up() -> bool:  # a scrape may time out (1 s) on a loaded machine: up is 0 until the next one
        return {s["metric"]["job"] for s in await samples("up == 1")} == {"invoicing-gateway", "invoicing-worker"}

    assert await wait_until(both_up, timeout=15, interval=1.0)
    assert await samples('invoicing_webhook_requests_total{job="invoicing-gateway", platform="shopify", status="401"} > 0')

    # the worker's JSON log follows the invoices: platform, event id, order key, invoice number; no secret
    lines = [line for line in worker.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), [line for line in lines if not line.startswith("{")][:5]
    issued_lines = [r for r in records if r.get("logger") == "streams.issue" and "invoice_number" in r]
    assert len(issued_lines) == 2, records[-20:]
    for r in issued_lines:
        assert r["platform"] == "shopify" and r["event_id"] and r["order_key"].startswith("shopify:")
    numbers = {r["invoice_number"] for r in issued_lines}
    assert {r["invoice_number"] for r in records if r.get("logger") == "streams.deliver"} == numbers
    (parked,) = [r for r in records if r.get("stage") == "bill" and r["message"].startswith("dead letter at bill")]
    assert parked["platform"] == "shopify" and parked["event_id"] == "live-refused-3", parked
    assert parked["order_key"] == f"shopify:{refused['id']}", parked
    assert SECRET not in worker.log()
