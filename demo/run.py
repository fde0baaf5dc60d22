"""`invoicing demo`: the whole pipeline on a realistic day of signed platform events.

Starts the embedded broker (or uses ``--bootstrap``), loads the demo reference
data, starts a worker process and the gateway, serves the platforms' APIs for
thin events from a loopback sandbox, posts every platform's signed webhooks
over HTTP (with redeliveries), waits until every invoice is issued and
delivered, prints a summary and exits 0 (1 when something is missing).

With ``--console`` the broker, worker and gateway keep running after the summary, and
the web console (`invoicing.console`) serves the demo's register and topics on
``--console-port`` (8090) with a generated operator sign-in, until Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import uvicorn

from infra.broker import EmbeddedBroker, ensure_topics, free_port, wait_for_broker
from domain.codec import decode
from infra.dead_letters import read_dead_letters
from domain.money import round_amount
from demo.sandbox import Alternatives, PlatformSandbox
from demo.samples import SAMPLES, SampleOrder, settings_env
from domain.settings import Settings, load_settings, platform_env_prefix

__all__ = ["run_demo", "build_day"]

REFERENCE = Path(__file__).resolve().parent / "data" / "reference.yaml"


def build_day(orders_per_platform: int, seed: int = 2026) -> tuple[list[SampleOrder], dict[str, str]]:
    """Every platform's sample orders, each signed with a fresh per-platform secret."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    secrets_by_platform = {p: secrets.token_hex(16) for p in sorted(SAMPLES)}
    day: list[SampleOrder] = []
    for platform in sorted(SAMPLES):
        for n in range(orders_per_platform):
            day.append(SAMPLES[platform].order(n, random.Random(rng.random()), secrets_by_platform[platform], now))
    return day, secrets_by_platform


def _environment(secrets_by_platform: dict[str, str], sandbox_url: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for platform, secret in secrets_by_platform.items():
        env.update(settings_env(platform, secret))
        env.setdefault(platform_env_prefix(platform) + "BASE_URL", f"{sandbox_url}/{platform}")
    return env


def _sandbox_routes(day: list[SampleOrder]) -> dict[str, Any]:
    routes: dict[str, Any] = {}
    for order in day:
        for key, doc in order.api.items():
            method, path = key.split(" ", 1)
            key = f"{method} /{order.platform}{path}"
            if key not in routes:
                routes[key] = doc
            elif routes[key] != doc:
                if not isinstance(routes[key], Alternatives):
                    routes[key] = Alternatives([routes[key]])
                if doc not in routes[key]:
                    routes[key].append(doc)
    return routes


class Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
        elif force or now - self.last >= 2:
            print(text, file=sys.stderr, flush=True)
            self.last = now

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


async def _post_day(base: str, day: list[SampleOrder], progress: Progress) -> tuple[Counter[int], int]:
    rng = random.Random(7)
    requests = [r for o in day for r in o.requests]
    redeliveries = [r for o in day for r in o.redeliveries]
    rng.shuffle(redeliveries)
    ordered = requests + redeliveries
    statuses: Counter[int] = Counter()
    sem = asyncio.Semaphore(16)
    sent = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def one(req: Any) -> None:
            nonlocal sent
            async with sem:
                url = req.path + (f"?{req.query}" if req.query else "")
                r = await client.request(req.method, url, content=req.body, headers=dict(req.headers))
                statuses[r.status_code] += 1
                sent += 1
                progress.show(f"posting webhooks: {sent}/{len(ordered)}")
        # an order's own requests go in order; orders interleave
        by_order = [list(o.requests) for o in day]
        while any(by_order):
            await asyncio.gather(*(one(reqs.pop(0)) for reqs in by_order if reqs))
        await asyncio.gather(*(one(r) for r in redeliveries))
    progress.show(f"posted {len(ordered)} webhooks", force=True)
    return statuses, len(redeliveries)


async def _collect(settings: Settings, bootstrap: str, expected: int, timeout: float,
                   progress: Progress) -> tuple[dict[bytes, dict[str, Any]], dict[str, dict[str, Any]]]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.topic("invoices"), settings.topic("invoicing.delivery-receipts"),
                                bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    invoices: dict[bytes, dict[str, Any]] = {}
    receipts: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                for m in msgs:
                    if m.topic.endswith("invoices"):
                        invoices[m.key] = decode("invoice", m.value)
                    else:
                        r = decode("delivery_receipt", m.value)
                        receipts[f"{r['invoice_id']}|{r['target']}"] = r
            delivered = {k.split("|")[0] for k in receipts}
            progress.show(f"invoices issued: {len(invoices)}/{expected}, delivered: {len(delivered)}")
            if len(invoices) >= expected and len(delivered) >= expected:
                break
    finally:
        await consumer.stop()
    progress.show(f"invoices issued: {len(invoices)}/{expected}", force=True)
    return invoices, receipts


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


class _QuietServer(uvicorn.Server):
    """The gateway with ``--console``: SIGINT and SIGTERM are left to `_serve_console`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_console(args: argparse.Namespace, settings: Settings, bootstrap: str, register: Path,
                         worker_metrics: str, gateway_metrics: str) -> None:
    """The console on the demo's data, with a generated operator sign-in, until interrupted."""
    from invoicing.console.accounts import create_user
    from invoicing.console.app import create_app, serve_console
    from invoicing.console.config import ConsoleSettings

    console_settings = settings.model_copy(update={"register_path": register})
    app = create_app(console_settings, bootstrap, ConsoleSettings(worker_metrics_urls=[worker_metrics],
                                                                  gateway_metrics_urls=[gateway_metrics]))
    password = secrets.token_urlsafe(12)
    await asyncio.to_thread(create_user, app.state.console.engine, "demo", "operator", password)
    ready = asyncio.Event()
    server = asyncio.ensure_future(serve_console(app, "127.0.0.1", args.console_port, ready=ready,
                                                 handle_signals=False))
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        waiting.cancel()
        server.result()  # it could not listen: say why
        return
    print(f"\nconsole:              http://127.0.0.1:{args.console_port}/", flush=True)
    print(f"sign in as:           demo / {password}   (operator; made for this run only)", flush=True)
    print("the broker, worker and gateway keep running for the console; Ctrl-C stops everything "
          "(the broker's storage is memory only)", flush=True)
    # Ctrl-C or SIGTERM ends the console, then the demo's own shutdown runs (gateway, worker, broker), rather
    # than uvicorn's handlers re-raising the signal past it and leaving the worker and the broker behind.
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Neither this console nor the gateway (`_QuietServer`) installs handlers of its own in this mode, and these stay
    # in place until the process ends: a second Ctrl-C while the pipeline stops does not cut its shutdown short.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    print("console stopped; stopping the pipeline", flush=True)


async def _demo(args: argparse.Namespace, progress: Progress,
                on_summary: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    broker: EmbeddedBroker | None = None
    explicit = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    run_id = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    prefix = args.topic_prefix if args.topic_prefix is not None else ("" if not explicit else f"demo-{run_id}.")
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.is_file() and old.suffix in (".json", ".pdf", ".xml", ".db", ".log"):
            old.unlink()
    if explicit:
        bootstrap = explicit
    else:
        broker = EmbeddedBroker(port=free_port()).start()
        bootstrap = broker.bootstrap
        progress.show(f"embedded broker (Tansu, memory only) on {bootstrap}", force=True)
    settings = load_settings(bootstrap=bootstrap, topic_prefix=prefix, app_id=f"invoicing-demo-{run_id}",
                             rebalance_timeout=4.0, output_dir=str(out), partitions=4)
    day, secrets_by_platform = build_day(args.orders)
    sandbox = PlatformSandbox(routes=_sandbox_routes(day)).__enter__()
    env = _environment(secrets_by_platform, sandbox.url)
    os.environ.update(env)  # the in-process gateway's sources read their secrets from here
    worker: subprocess.Popen[bytes] | None = None
    metrics_port = free_port()
    try:
        await wait_for_broker(bootstrap)
        await ensure_topics(settings, bootstrap)
        from infra.reference_store import publish_reference

        await publish_reference(settings, bootstrap, REFERENCE)
        child_env = {**os.environ, **env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                     "INVOICING_TOPIC_PREFIX": prefix, "INVOICING_APP_ID": settings.app_id,
                     "INVOICING_REBALANCE_TIMEOUT": str(settings.rebalance_timeout),
                     "INVOICING_OUTPUT_DIR": str(out), "INVOICING_METRICS_PORT": str(metrics_port),
                     "INVOICING_PARTITIONS": str(settings.partitions),
                     "INVOICING_REGISTER_PATH": str(out / "register.db")}
        log_path = out / "worker.log"
        worker = subprocess.Popen([sys.executable, "-m", "invoicing", "worker"], env=child_env,
                                  stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        progress.show("worker started; starting gateway", force=True)
        from sources.ingress.gateway import RawEventPublisher, create_gateway
        from sources.ingress.server import gateway_server

        publisher = RawEventPublisher(settings, bootstrap)
        await publisher.start()
        gw_port = free_port()
        # the production server, with its header, body and slow-client limits
        server = gateway_server(create_gateway(settings, publisher), settings, "127.0.0.1", gw_port)
        if getattr(args, "console", False):
            server = _QuietServer(server.config)  # the same server and limits; SIGINT and SIGTERM left to the console
        gw_task = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        statuses, redelivered = await _post_day(f"http://127.0.0.1:{gw_port}", day, progress)
        expected = sum(1 for o in day if o.issues_invoice)
        invoices, receipts = await _collect(settings, bootstrap, expected, args.timeout, progress)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        dead = await read_dead_letters(settings, bootstrap)
        summary = _summary(broker, bootstrap, statuses, redelivered, expected, invoices, receipts, metrics, dead, out,
                           started)
        if getattr(args, "console", False):
            if on_summary is not None:
                on_summary(summary)
            await _serve_console(args, settings, bootstrap, out / "register.db",
                                 f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{gw_port}/metrics")
        server.should_exit = True
        await gw_task
        await publisher.stop()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        sandbox.__exit__()
        if broker is not None:
            broker.stop()
    return summary


def _summary(broker: EmbeddedBroker | None, bootstrap: str, statuses: Counter[int], redelivered: int, expected: int,
             invoices: dict[bytes, dict[str, Any]], receipts: dict[str, dict[str, Any]], metrics: str, dead: list[Any], out: Path,
             started: float) -> dict[str, Any]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    per_platform: Counter[str] = Counter()
    for inv in invoices.values():
        totals[inv["currency"]] += inv["total"]
        per_platform.update({ev["platform"] for ev in inv["lineage"]})
    accepted = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "broker": "embedded" if broker else bootstrap,
        "platforms": len(SAMPLES),
        "events_posted": sum(statuses.values()),
        "events_accepted": accepted,
        "events_rejected": sum(statuses.values()) - accepted,
        "redeliveries_posted": redelivered,
        "duplicates_dropped": int(_metric(metrics, "invoicing_duplicates_dropped_total")),
        "invoices_expected": expected,
        "invoices_issued": len(invoices),
        "deliveries": dict(Counter(r["status"] for r in receipts.values())),
        "invoiced_per_currency": {c: str(round_amount(v, c)) for c, v in sorted(totals.items())},
        "invoices_per_platform": dict(sorted(per_platform.items())),
        "dead_letters": len(dead),
        "output_dir": str(out),
        "seconds": round(time.monotonic() - started, 1),
    }


def run_demo(args: argparse.Namespace) -> int:
    progress = Progress(enabled=not args.json)
    printed: list[dict[str, Any]] = []

    def show(summary: dict[str, Any]) -> None:
        progress.done()
        _print_summary(args, summary)
        printed.append(summary)

    try:
        summary = asyncio.run(_demo(args, progress, show))
    except KeyboardInterrupt:
        if not printed:
            raise
        summary = printed[0]
    if printed:
        return 0 if summary["ok"] else 1
    progress.done()
    _print_summary(args, summary)
    return 0 if summary["ok"] else 1


def _print_summary(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    ok = summary["invoices_issued"] == summary["invoices_expected"] and summary["dead_letters"] == 0
    summary["ok"] = ok
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("\n=== invoicing demo summary ===")
        print(f"broker:               {summary['broker']}")
        print(f"platforms:            {summary['platforms']}")
        print(f"events accepted:      {summary['events_accepted']} of {summary['events_posted']} posted "
              f"({summary['redeliveries_posted']} redeliveries)")
        print(f"duplicates dropped:   {summary['duplicates_dropped']}")
        print(f"invoices issued:      {summary['invoices_issued']} of {summary['invoices_expected']} expected")
        print(f"deliveries:           {summary['deliveries']}")
        for cur, total in summary["invoiced_per_currency"].items():
            print(f"total invoiced {cur}:   {total}")
        print("invoices per platform: " + ", ".join(f"{p} {n}" for p, n in summary["invoices_per_platform"].items()))
        print(f"dead letters:         {summary['dead_letters']}")
        print(f"documents in:         {summary['output_dir']}")
        print(f"took:                 {summary['seconds']} s")
        print("result:               " + ("OK" if ok else "INCOMPLETE"), flush=True)
