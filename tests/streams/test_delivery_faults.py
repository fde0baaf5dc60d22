"""Delivery under faults, on the real broker: signed Shopify webhooks → gateway → worker (a child
process) → real HTTP targets (the Xero and QuickBooks stand-ins on loopback).

Reference data routes customers to targets: C-1001 → [xero, quickbooks], C-1002 → [xero],
C-1003 → [quickbooks], everyone else → the default route [folder]. The targets answer 5xx,
429 with Retry-After, hang past the timeout, go down and come back, reject with 400, or stall
their answer while the worker is killed. Whatever happens, every invoice ends up at each of its
targets exactly once or on the dead-letter topic, and a replay delivers the parked ones.
Assertions read the fakes' ``created`` state, the receipts topic, the dead-letter topic and
the worker's /metrics.
"""
from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml
from pydantic import SecretStr

from infra.broker import ensure_topics
from domain.codec import decode
from infra.dead_letters import read_dead_letters, replay
from domain.errors import RetriableSinkError
from infra.reference_store import publish_reference
from demo.samples import shopify as shop
from domain.settings import PlatformSettings, Settings
from sinks.base import InvoiceRef, Sink
from sinks.delivery import deliver
from sinks.resilience import guard_for
from sources.shopify import Shopify
from tests.fakes.target_base import FakeTarget
from tests.fakes.targets import quickbooks as qbo_fake
from tests.fakes.targets import xero as xero_fake
from tests.fakes.targets._token_issuer import REFRESH as REFRESH_TOKEN, SECRET as CLIENT_SECRET
from tests.support import REPO, WorkerProcess, read_topic, running_gateway, unique_settings, wait_until

pytestmark = pytest.mark.slow

SECRET = "faults-shopify-secret"
DEMO_REFERENCE = REPO / "demo" / "data" / "reference.yaml"
ROUTES = {"C-1001": ["xero", "quickbooks"], "C-1002": ["xero"], "C-1003": ["quickbooks"]}
DEFAULT_ROUTE = ["folder"]
# Shopify sample order n belongs to sample customer n % 9 (demo.samples.base.CUSTOMERS)
BOTH, XERO, QBO, DEFAULT, UNKNOWN = 0, 1, 2, 3, 7
RECEIPTS = "invoicing.delivery-receipts"


# -- set-up --------------------------------------------------------------------------------------
def write_reference(tmp_path: Path) -> Path:
    """The demo reference data with per-customer targets and a default route."""
    data = yaml.safe_load(DEMO_REFERENCE.read_text(encoding="utf-8"))
    data["defaults"]["targets"] = DEFAULT_ROUTE
    for customer in data["customers"]:
        if customer["customer_id"] in ROUTES:
            customer["targets"] = ROUTES[customer["customer_id"]]
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class StampedRequests(list):  # type: ignore[type-arg]
    """A fake's request log that also records when each request arrived (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        super().append(item)


@pytest.fixture
def xero() -> Iterator[xero_fake.XeroFake]:
    fake = xero_fake.make_fake()
    fake.requests = StampedRequests()
    yield fake
    fake.close()


@pytest.fixture
def qbo() -> Iterator[qbo_fake.QuickBooksFake]:
    fake = qbo_fake.make_fake()
    fake.requests = StampedRequests()
    yield fake
    fake.close()


class Rig:
    """Settings, worker and gateway of one test."""

    def __init__(self, settings: Settings, bootstrap: str, env: dict[str, str]) -> None:
        self.settings, self.bootstrap, self.env = settings, bootstrap, env
        self.worker = WorkerProcess(settings, bootstrap, env=env)
        self.source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))

    def restart(self) -> WorkerProcess:
        self.worker = WorkerProcess(self.settings, self.bootstrap, env=self.env).start()
        return self.worker

    async def post(self, numbers: list[int]) -> None:
        """Every webhook of the sample orders *numbers*, through a real gateway."""
        at = datetime.now(timezone.utc)
        async with running_gateway(self.settings, self.bootstrap, {"shopify": self.source}) as base:
            async with httpx.AsyncClient(base_url=base, timeout=20) as client:
                for n in numbers:
                    for req in shop.order(n, random.Random(n), SECRET, at).requests:
                        r = await client.post(req.path, content=req.body, headers=dict(req.headers))
                        assert r.status_code == 200, r.text

    async def invoices(self, want: int, timeout: float = 60) -> dict[str, dict[str, Any]]:
        """The invoices on the `invoices` topic by order ref, once *want* are there."""
        found: dict[str, dict[str, Any]] = {}

        async def enough() -> bool:
            msgs = await read_topic(self.bootstrap, self.settings.topic("invoices"), timeout=3, idle=0.3)
            for m in msgs:
                inv = decode("invoice", m.value)
                for ref in inv["orders"]:
                    found[ref] = inv
            return len(found) >= want

        assert await wait_until(enough, timeout=timeout, interval=0.5), self.worker.log()[-3000:]
        assert len(found) == want, f"more invoices than orders: {sorted(found)}"
        return found

    async def receipts(self, pairs: set[tuple[str, str]], timeout: float = 60,
                       done: tuple[str, ...] = ()) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Receipts by (invoice id, target), once every pair has one (with a status in *done*, if given)."""
        by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

        async def complete() -> bool:
            by_pair.clear()
            msgs = await read_topic(self.bootstrap, self.settings.topic(RECEIPTS), timeout=3, idle=0.3)
            for m in msgs:
                r = decode("delivery_receipt", m.value)
                by_pair[(r["invoice_id"], r["target"])].append(r)
            return all(by_pair.get(p) and (not done or by_pair[p][-1]["status"] in done) for p in pairs)

        assert await wait_until(complete, timeout=timeout, interval=0.5), \
            f"receipts missing: {sorted(set(pairs) - set(by_pair))}\n{self.worker.log()[-3000:]}"
        return dict(by_pair)


@pytest.fixture
async def rig_factory(bootstrap: str, tmp_path: Path, xero: FakeTarget, qbo: FakeTarget) -> Any:
    started: list[Rig] = []

    async def make(*, attempts: int = 4, timeout: float = 5.0, backoff_max: float = 0.5,
                   threshold: int = 10, cooldown: float = 1.0, **extra_env: str) -> Rig:
        settings = unique_settings(tmp_path, sink_max_attempts=attempts, sink_timeout=timeout,
                                   sink_backoff_base=0.05, sink_backoff_max=backoff_max)
        await ensure_topics(settings, bootstrap)
        await publish_reference(settings, bootstrap, write_reference(tmp_path))
        env = {**xero.env(), **qbo.env(), "INVOICING_CIRCUIT_THRESHOLD": str(threshold),
               "INVOICING_CIRCUIT_COOLDOWN": str(cooldown), **extra_env}
        rig = Rig(settings, bootstrap, env)
        rig.worker.start()
        started.append(rig)
        return rig

    yield make
    for rig in started:
        rig.worker.stop()


def orders(residue: int, count: int, start: int = 0) -> list[int]:
    """Sample order numbers for one customer (n % 9 == residue) without freight: Xero and QuickBooks
    refuse document-level charges (invoicing.outbound.check_mappable)."""
    out: list[int] = []
    n = start
    while len(out) < count:
        shipping: Any = shop.shopify_payload(n, random.Random(n))["shipping_lines"]
        if n % 9 == residue and shipping[0]["price"] == "0.00":
            out.append(n)
        n += 1
    return out


def numbers_at(fake: FakeTarget) -> Counter[str]:
    """How many times each of our invoice numbers is stored at the fake target."""
    field = "InvoiceNumber" if fake.target == "xero" else "DocNumber"
    return Counter(doc[field] for doc in fake.created.values())


def external_id(fake: FakeTarget, number: str) -> str:
    field, ident = ("InvoiceNumber", "InvoiceID") if fake.target == "xero" else ("DocNumber", "Id")
    return next(str(d[ident]) for d in fake.created.values() if d[field] == number)


def pairs_of(invoices: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    return {(inv["invoice_id"], t) for inv in invoices.values() for t in inv["targets"]}


async def dead_letters(rig: Rig, want: int, timeout: float = 30) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal records
        records = [e.record for e in await read_dead_letters(rig.settings, rig.bootstrap)]
        return len(records) >= want

    assert await wait_until(enough, timeout=timeout, interval=0.5), rig.worker.log()[-3000:]
    return sorted(records, key=lambda r: r["failed_at"])


# -- tests ---------------------------------------------------------------------------------------
async def test_5xx_then_recovery_routing_receipts_and_metrics(rig_factory: Any, xero: FakeTarget,
                                                              qbo: FakeTarget) -> None:
    """Routing per customer with a default; 500s below the retry budget end in exactly one invoice
    per target, DELIVERED receipts carrying the attempts; the per-target metrics tell the story."""
    rig = await rig_factory(attempts=4)
    first = orders(BOTH, 1) + orders(DEFAULT, 1) + orders(UNKNOWN, 1)
    await rig.post(first)
    invoices = await rig.invoices(len(first))
    await rig.receipts(pairs_of(invoices))  # tokens are cached now: the failures below hit the API

    xero.fail(500, times=2)
    qbo.fail(503, times=2)
    second = orders(BOTH, 1, start=first[0] + 1) + orders(XERO, 2) + orders(QBO, 1)
    await rig.post(second)
    invoices = await rig.invoices(len(first) + len(second))
    receipts = await rig.receipts(pairs_of(invoices))

    # routing: every invoice is on the invoices topic, whatever its targets; targets follow the reference data
    routed = {ref: inv["targets"] for ref, inv in invoices.items()}
    for n in first + second:
        ref = f"shopify:{5_800_000_000_000 + n}"
        want = {BOTH: ROUTES["C-1001"], XERO: ROUTES["C-1002"], QBO: ROUTES["C-1003"]}.get(n % 9, DEFAULT_ROUTE)
        assert routed[ref] == want, (n, routed[ref])
    # exactly once at each target, nothing anywhere else
    for fake in (xero, qbo):
        expected = {inv["number"] for inv in invoices.values() if fake.target in inv["targets"]}
        assert numbers_at(fake) == Counter({n: 1 for n in expected}), fake.target
    folder_files = {p.stem for p in rig.settings.output_dir.glob("*.json")}
    assert folder_files == {inv["number"] for inv in invoices.values() if "folder" in inv["targets"]}
    # one receipt per (invoice, target): target, external id, status, attempts
    assert set(receipts) == pairs_of(invoices)
    by_id = {inv["invoice_id"]: inv for inv in invoices.values()}
    for (invoice_id, target), rs in receipts.items():
        assert len(rs) == 1, rs
        r = rs[0]
        assert r["status"] == "DELIVERED" and r["target"] == target and r["attempts"] >= 1, r
        assert r["number"] == by_id[invoice_id]["number"]
        if target in ("xero", "quickbooks"):
            assert r["external_id"] == external_id(xero if target == "xero" else qbo, r["number"])
        else:
            assert r["external_id"]
    for target, fails in (("xero", 2), ("quickbooks", 2)):
        attempts = [rs[0]["attempts"] for (_, t), rs in receipts.items() if t == target]
        assert max(attempts) == fails + 1, (target, attempts)  # the first one after the failures retried
        assert sum(a - 1 for a in attempts) == fails, (target, attempts)
    # metrics per target
    w = rig.worker
    xero_count = sum(1 for inv in invoices.values() if "xero" in inv["targets"])
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="ok") == xero_count
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="retried") == 2
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="failed") == 2
    assert w.metric("invoicing_deliveries_total", target="quickbooks", outcome="retried") == 2
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="parked") == 0
    assert w.metric("invoicing_delivery_seconds_count", target="xero") == xero_count
    assert w.metric("invoicing_delivery_seconds_bucket", target="xero", le="+Inf") == xero_count
    assert 'invoicing_circuit_open{target="xero"} 0.0' in w.metrics()
    # Xero allows 60 calls/min (bursts of 5): 4 invoices with retries make more calls than that
    assert w.metric("invoicing_rate_limit_wait_seconds_total", target="xero") > 0


async def test_429_retry_after_is_honoured(rig_factory: Any, qbo: FakeTarget) -> None:
    """The next call to a target that answered 429 comes no sooner than its Retry-After, whether the
    token endpoint or the API answered it; a Retry-After longer than the backoff cap parks the invoice
    (retriable) instead of calling early, and a replay after it delivers."""
    rig = await rig_factory(attempts=3, backoff_max=1.2)
    numbers = orders(QBO, 3)
    throttled: list[tuple[int, float]] = []  # (index of the throttled request, its Retry-After)
    for n, wait in zip(numbers, (1.0, 1.0, 2.0)):
        throttled.append((len(qbo.requests), wait))  # the token request first, then look-ups (token cached)
        qbo.fail(429, times=1, retry_after=wait)
        await rig.post([n])
        invoices = await rig.invoices(len(throttled))
        receipts = await rig.receipts(pairs_of(invoices))
    requests, times = qbo.requests, qbo.requests.times  # type: ignore[attr-defined]
    assert requests[throttled[0][0]].path.endswith("/tokens/bearer")
    assert requests[throttled[1][0]].path.endswith("/query")
    for i, wait in throttled[:2]:
        again = requests[i + 1]
        assert (again.method, again.path, again.query) == (requests[i].method, requests[i].path, requests[i].query)
        assert times[i + 1] - times[i] >= wait, f"retried after {times[i + 1] - times[i]:.3f}s, Retry-After {wait}s"
    by_ref = {int(ref.split(":")[1]) - 5_800_000_000_000: inv for ref, inv in invoices.items()}
    for n in numbers[:2]:
        (r,) = receipts[(by_ref[n]["invoice_id"], "quickbooks")]
        assert r["status"] == "DELIVERED" and r["attempts"] == 2, r
    long_wait = by_ref[numbers[2]]
    (r,) = receipts[(long_wait["invoice_id"], "quickbooks")]
    assert r["status"] == "PARKED" and r["attempts"] == 1, r
    assert len(requests) == throttled[2][0] + 1, "not called again before its Retry-After"
    (rec,) = await dead_letters(rig, 1)
    assert rec["retriable"] and "Retry-After 2s" in rec["reason"], rec
    await asyncio.sleep(max(0.0, times[throttled[2][0]] + 2.0 - time.monotonic()))
    assert await replay(rig.settings, rig.bootstrap, target="quickbooks") == 1
    await rig.receipts(pairs_of(invoices), done=("DELIVERED",))
    assert numbers_at(qbo) == Counter({inv["number"]: 1 for inv in invoices.values()})
    assert rig.worker.metric("invoicing_deliveries_total", target="quickbooks", outcome="retried") == 2
    assert rig.worker.metric("invoicing_deliveries_total", target="quickbooks", outcome="failed") == 3


async def test_hang_past_timeout_parks_and_does_not_block_other_target(rig_factory: Any, xero: FakeTarget,
                                                                       qbo: FakeTarget) -> None:
    rig = await rig_factory(attempts=3, timeout=0.5, threshold=10)
    xero.hang(3.0, times=1000)
    numbers = orders(BOTH, 2)
    await rig.post(numbers)
    invoices = await rig.invoices(2)
    receipts = await rig.receipts(pairs_of(invoices))

    assert numbers_at(qbo) == Counter({inv["number"]: 1 for inv in invoices.values()}), "the other target delivered"
    for inv in invoices.values():
        (q,) = receipts[(inv["invoice_id"], "quickbooks")]
        assert q["status"] == "DELIVERED" and q["attempts"] == 1, q
        (x,) = receipts[(inv["invoice_id"], "xero")]
        assert x["status"] == "PARKED" and x["attempts"] == 3 and x["external_id"] is None, x
        assert "timed out" in (x["detail"] or ""), x
    letters = await dead_letters(rig, 2)
    assert len(letters) == 2
    for rec in letters:
        assert rec["stage"] == "deliver:xero" and rec["target"] == "xero" and rec["retriable"], rec
        assert rec["attempts"] == 3 and "timed out after 0.5s" in rec["reason"], rec
        assert rec["topic"] == rig.settings.topic("invoicing.redeliver")
        assert decode("invoice", rec["value"])["invoice_id"] in {inv["invoice_id"] for inv in invoices.values()}
    w = rig.worker
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="parked") == 2
    assert w.metric("invoicing_deliveries_total", target="xero", outcome="retried") == 4
    assert w.metric("invoicing_deliveries_total", target="quickbooks", outcome="ok") == 2


async def test_down_then_up_parks_then_replay_delivers_once(rig_factory: Any, xero: FakeTarget,
                                                            qbo: FakeTarget) -> None:
    """Connections fail → parked as retriable (the circuit opens) → target back → replay → each once.
    The deliveries table says PARKED for them and the redelivery is not skipped; a second replay sends nothing."""
    rig = await rig_factory(attempts=3, threshold=4, cooldown=1.0)
    primer = orders(XERO, 1)
    await rig.post(primer)  # Xero's token is cached: the outage hits the API calls
    await rig.receipts(pairs_of(await rig.invoices(1)))
    xero.down()
    numbers = orders(BOTH, 1) + orders(XERO, 2, start=primer[0] + 1)
    await rig.post(numbers)
    invoices = await rig.invoices(1 + len(numbers))
    receipts = await rig.receipts(pairs_of(invoices))
    parked = {inv["invoice_id"] for ref, inv in invoices.items() if int(ref.split(":")[1]) - 5_800_000_000_000 in numbers}
    assert all(receipts[(i, "xero")][-1]["status"] == "PARKED" for i in parked), receipts
    both = next(inv["invoice_id"] for inv in invoices.values() if "quickbooks" in inv["targets"])
    assert [r["status"] for r in receipts[(both, "quickbooks")]] == ["DELIVERED"], "one dead target blocks no other"
    letters = await dead_letters(rig, 3)
    assert {decode("invoice", r["value"])["invoice_id"] for r in letters} == parked
    assert all(r["retriable"] and r["target"] == "xero" and r["stage"] == "deliver:xero" for r in letters), letters
    assert "retries exhausted: connection failed" in letters[0]["reason"], letters[0]
    assert any("circuit open" in r["reason"] for r in letters[1:]), letters
    assert rig.worker.metric("invoicing_circuit_open", target="xero") == 1
    assert rig.worker.metric("invoicing_deliveries_total", target="xero", outcome="parked") == 3
    assert len(xero.created) == 1

    xero.up()
    await asyncio.sleep(1.2)  # the circuit's cool-down
    assert await replay(rig.settings, rig.bootstrap, target="quickbooks") == 0
    assert await replay(rig.settings, rig.bootstrap, target="xero") == 3
    receipts = await rig.receipts(pairs_of(invoices), done=("DELIVERED", "ALREADY_PRESENT"))
    assert numbers_at(xero) == Counter({inv["number"]: 1 for inv in invoices.values()})
    for i in parked:
        last = receipts[(i, "xero")][-1]
        assert last["status"] == "DELIVERED" and last["external_id"] == external_id(xero, last["number"]), last
    assert len(receipts[(both, "quickbooks")]) == 1, "a replay for xero does not re-send to quickbooks"
    assert await replay(rig.settings, rig.bootstrap, target="xero") == 0, "a parked invoice is replayed once"
    before = len(xero.requests)
    await asyncio.sleep(2)
    assert len(xero.requests) == before and len(xero.created) == 4
    assert rig.worker.metric("invoicing_circuit_open", target="xero") == 0


@pytest.mark.parametrize("how", ["killed", "stopped"])
async def test_interrupted_between_acceptance_and_receipt(rig_factory: Any, xero: FakeTarget, how: str) -> None:
    """Xero stores the invoice but its answer stalls; the worker is SIGKILLed, or stopped with SIGTERM
    (the delivery in flight is cancelled: it must not count as done); the restarted worker
    finds the invoice (look-up before create) and does not create a second one."""
    release = threading.Event()
    base_handler = xero.server.RequestHandlerClass

    class StallAnswerToCreate(base_handler):  # type: ignore[misc, valid-type]
        def send_response(self, code: int, message: str | None = None) -> None:
            if self.command == "PUT":
                release.wait(30)
            super().send_response(code, message)

    xero.server.RequestHandlerClass = StallAnswerToCreate
    rig = await rig_factory(attempts=3, timeout=10.0)
    (n,) = orders(XERO, 1)
    try:
        await rig.post([n])
        assert await wait_until(lambda: len(xero.created) == 1, timeout=60), rig.worker.log()[-3000:]
        if how == "killed":
            rig.worker.kill()
        else:
            rig.worker.stop()
    finally:
        release.set()
    receipts_before = await read_topic(rig.bootstrap, rig.settings.topic(RECEIPTS), timeout=2, idle=0.3)
    assert not receipts_before, "the worker died before its receipt"
    rig.restart()
    invoices = await rig.invoices(1)
    receipts = await rig.receipts(pairs_of(invoices), timeout=90)
    (inv,) = invoices.values()
    assert numbers_at(xero) == Counter({inv["number"]: 1})
    (r,) = receipts[(inv["invoice_id"], "xero")]
    assert r["status"] == "ALREADY_PRESENT", r
    assert r["external_id"] == external_id(xero, inv["number"])
    assert sum(1 for q in xero.requests if q.method == "PUT") == 1, "no second create"


async def test_validation_error_is_not_retried_and_parked_with_platform_message(rig_factory: Any, xero: FakeTarget,
                                                                                 qbo: FakeTarget) -> None:
    """QuickBooks answers 400 (its Fault body): not retried, parked with QuickBooks' message; Xero still gets it."""
    rig = await rig_factory(attempts=4, INVOICING_QUICKBOOKS_ITEM_REF="")
    numbers = orders(BOTH, 1)
    await rig.post(numbers)
    invoices = await rig.invoices(1)
    receipts = await rig.receipts(pairs_of(invoices))
    (inv,) = invoices.values()
    (q,) = receipts[(inv["invoice_id"], "quickbooks")]
    assert q["status"] == "PARKED" and q["attempts"] == 1, q
    assert receipts[(inv["invoice_id"], "xero")][0]["status"] == "DELIVERED"
    (rec,) = await dead_letters(rig, 1)
    assert rec["target"] == "quickbooks" and not rec["retriable"] and rec["attempts"] == 1, rec
    assert "SalesItemLineDetail with ItemRef is required" in rec["reason"], rec["reason"]
    assert rec["reason"].startswith("the target rejected it: quickbooks"), rec["reason"]
    assert not qbo.created
    creates = [r for r in qbo.requests if r.method == "POST" and r.path.endswith(("/invoice", "/salesreceipt"))]
    assert len(creates) == 1, "not retried"
    secrets = (CLIENT_SECRET, REFRESH_TOKEN)
    assert not any(s in rec["reason"] for s in secrets)
    assert not any(s in rig.worker.log() for s in secrets)
    assert rig.worker.metric("invoicing_deliveries_total", target="quickbooks", outcome="parked") == 1
    assert rig.worker.metric("invoicing_deliveries_total", target="quickbooks", outcome="retried") == 0


async def test_garbled_answer_is_retried_and_the_agent_keeps_going(rig_factory: Any, qbo: FakeTarget) -> None:
    """A 200 whose body is not the platform's JSON (a proxy's HTML page) is a failed attempt like any other:
    retried, then delivered; it does not take the deliver agent down."""
    rig = await rig_factory(attempts=3)
    qbo.fail(200, times=1, body=b"<html><body>502 Bad Gateway (proxy)</body></html>")
    numbers = orders(QBO, 2)
    await rig.post(numbers)
    invoices = await rig.invoices(2)
    receipts = await rig.receipts(pairs_of(invoices), timeout=30)
    assert sorted(rs[-1]["attempts"] for rs in receipts.values()) == [1, 2], receipts
    assert all(rs[-1]["status"] == "DELIVERED" for rs in receipts.values()), receipts
    assert numbers_at(qbo) == Counter({inv["number"]: 1 for inv in invoices.values()})


class _TenantProbe(Sink):
    """A target with one tenant down and another healthy (no HTTP: the guard is what is tested)."""

    target = "faults-probe"
    rate_limit_per_minute = 60.0

    def __init__(self, tenant: str, *, down: bool, pipeline: Settings) -> None:
        super().__init__(PlatformSettings(tenant=tenant), httpx.AsyncClient(), pipeline)
        self.down = down
        self.created: list[str] = []

    async def find_invoice(self, invoice: Any, idempotency_key: str) -> InvoiceRef | None:
        return None

    async def create_invoice(self, invoice: Any, idempotency_key: str) -> InvoiceRef:
        if self.down:
            raise RetriableSinkError("HTTP 503: tenant unavailable")
        self.created.append(idempotency_key)
        return InvoiceRef(idempotency_key)


async def test_circuit_breaker_and_rate_limiter_are_per_tenant() -> None:
    """One tenant's outage opens its circuit only; each tenant has its own rate-limit bucket."""
    settings = Settings(sink_max_attempts=2, sink_backoff_base=0.01, sink_backoff_max=0.02,
                        circuit_threshold=2, circuit_cooldown=60)
    down = _TenantProbe("tenant-a", down=True, pipeline=settings)
    healthy = _TenantProbe("tenant-b", down=False, pipeline=settings)
    try:
        first = await deliver(down, {"invoice_id": "inv-1"}, settings)
        second = await deliver(down, {"invoice_id": "inv-2"}, settings)
        other = await deliver(healthy, {"invoice_id": "inv-3"}, settings)
    finally:
        await down.close()
        await healthy.close()
    assert first.status == "PARKED" and "retries exhausted" in (first.detail or ""), first
    assert second.status == "PARKED" and "circuit open" in (second.detail or ""), second
    assert other.status == "DELIVERED" and healthy.created == ["inv-3"], other
    a, b = guard_for("faults-probe", 60, tenant="tenant-a"), guard_for("faults-probe", 60, tenant="tenant-b")
    assert a is not b and a.limiter is not b.limiter and a.breaker.is_open and not b.breaker.is_open
    assert guard_for("faults-probe", 60, tenant="tenant-a") is a
