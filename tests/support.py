"""Helpers shared by the tests: topics on the real broker, worker processes, a gateway on loopback."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Mapping, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.broker import free_port
from domain.codec import decode
from sources.ingress.gateway import RawEventPublisher, create_gateway
from sources.ingress.server import gateway_server
from domain.settings import Settings, platform_env_prefix, platform_settings
from sinks.base import Sink
from sinks.delivery import DeliveryResult, deliver
from sources.base import Source

REPO = Path(__file__).resolve().parent.parent


def unique_settings(tmp_path: Path, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = dict(
        topic_prefix=f"t{tag}.", app_id=f"test-{tag}", rebalance_timeout=3.0, output_dir=tmp_path / "out",
        data_dir=tmp_path / "state", metrics_port=0, partitions=2, sink_backoff_base=0.05, sink_backoff_max=0.5,
    )
    values.update(overrides)
    return Settings(**values)


S = TypeVar("S", bound=Sink)


def sink_under_test(cls: type[S], *, quick_retries: bool = True) -> S:
    """A *cls* sink with its settings from the environment (see the ``serve`` fixture in tests/sinks/conftest.py).

    Args:
        cls: the sink class.
        quick_retries: 2 s timeouts, 3 attempts and millisecond backoff; otherwise the default
            pipeline settings and a 5 s client timeout.
    """
    if quick_retries:
        pipeline = Settings(sink_timeout=2.0, sink_backoff_base=0.01, sink_backoff_max=0.05, sink_max_attempts=3)
        return cls(platform_settings(cls.target, cls.settings_class), httpx.AsyncClient(timeout=2.0), pipeline)
    return cls(platform_settings(cls.target, cls.settings_class), httpx.AsyncClient(timeout=5), Settings())


async def deliver_once(sink: Sink, invoice: Mapping[str, Any]) -> DeliveryResult:
    """Deliver *invoice* through *sink* with the sink's own pipeline settings, then close the sink."""
    try:
        return await deliver(sink, invoice, sink.pipeline)
    finally:
        await sink.close()


async def deliver_twice(sink: Sink, invoice: Mapping[str, Any]) -> tuple[DeliveryResult, DeliveryResult]:
    """Deliver *invoice* twice through the same *sink* (a redelivery), then close the sink."""
    try:
        return await deliver(sink, invoice, sink.pipeline), await deliver(sink, invoice, sink.pipeline)
    finally:
        await sink.close()


async def deliver_invoice_and_note(sink: Sink, invoice: Mapping[str, Any], note: Mapping[str, Any]
                                   ) -> tuple[DeliveryResult, DeliveryResult, DeliveryResult]:
    """Deliver *invoice*, then its credit *note* twice (a redelivery), through the same *sink*, then close it.

    Returns:
        (the invoice's result, the note's, the note's again)
    """
    try:
        first = await deliver(sink, invoice, sink.pipeline)
        credited = await deliver(sink, note, sink.pipeline)
        return first, credited, await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()


async def find_once(sink: Sink, invoice: Mapping[str, Any]) -> Any:
    """``sink.find_invoice`` for *invoice* by its ``invoice_id``, then close the sink (also when it raises)."""
    try:
        return await sink.find_invoice(invoice, invoice["invoice_id"])
    finally:
        await sink.close()


def source_from_env(platform: str, monkeypatch: Any, secret: str, *, omit: tuple[str, ...] = (),
                    **env: str | None) -> Any:
    """The registered *platform* source, configured through the environment like production.

    Args:
        platform: the source's platform name.
        monkeypatch: pytest's fixture; every variable is set through it.
        secret: the webhook secret for the sample settings (`demo.samples.settings_env`).
        omit: sample variables to leave unset (e.g. a pinned certificate).
        env: extra settings, ``base_url="…"`` → ``INVOICING_<PLATFORM>_BASE_URL``; ``None`` values are skipped.
    """
    from demo.samples import settings_env as sample_env
    from sources.registry import SOURCES

    for k, v in sample_env(platform, secret).items():
        if k not in omit:
            monkeypatch.setenv(k, v)
    prefix = platform_env_prefix(platform)
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(f"{prefix}{name.upper()}", value)
    cls = SOURCES[platform]
    return cls(platform_settings(platform, cls.settings_class))


async def create_once(sink: Sink, invoice: Mapping[str, Any]) -> Any:
    """``sink.create_invoice`` for *invoice* keyed by its ``invoice_id``, then close the sink (also when it raises)."""
    try:
        return await sink.create_invoice(invoice, invoice["invoice_id"])
    finally:
        await sink.close()


async def create_and_find(sink: Sink, invoice: Mapping[str, Any]) -> tuple[Any, Any]:
    """``create_invoice`` then ``find_invoice`` for *invoice* keyed by its ``invoice_id``, then close the sink."""
    try:
        ref = await sink.create_invoice(invoice, invoice["invoice_id"])
        return ref, await sink.find_invoice(invoice, invoice["invoice_id"])
    finally:
        await sink.close()


def polling_source(platform: str, monkeypatch: Any, secret: str, url: str, *, poll: bool = True, **env: str) -> Any:
    """`source_from_env` for a poller test: *platform*'s API at *url*, polling on (or off), pages of 2,
    nothing before 2026-11-01; *env* as in `source_from_env`."""
    return source_from_env(platform, monkeypatch, secret, base_url=url, poll="true" if poll else "false",
                           poll_page_size="2", poll_since="2026-11-01T00:00:00Z", **env)


async def polled_once_each(bootstrap: str, settings: Settings, platform: str,
                           expected: set[str]) -> list[tuple[Any, dict[str, Any]]]:
    """The raw events on the topic, as (message, decoded raw event), after checking that each
    event id in *expected* came exactly once and nothing else came, keyed ``<platform>:<event id>``."""
    msgs = await read_topic(bootstrap, settings.topic("invoicing.raw-events"), count=len(expected), timeout=15, idle=1.0)
    raws = [decode("raw_event", m.value) for m in msgs]
    ids = [r["event_id"] for r in raws]
    assert len(ids) == len(set(ids)), "no duplicates"
    assert set(ids) == expected, "nothing missed"
    for m, raw in zip(msgs, raws):
        assert m.key == f"{platform}:{raw['event_id']}".encode()
    return list(zip(msgs, raws))


def settings_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    """The environment that makes a child process see *settings*."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "INVOICING_TOPIC_PREFIX": settings.topic_prefix,
        "INVOICING_APP_ID": settings.app_id,
        "INVOICING_REBALANCE_TIMEOUT": str(settings.rebalance_timeout),
        "INVOICING_OUTPUT_DIR": str(settings.output_dir),
        "INVOICING_DATA_DIR": str(settings.data_dir),
        "INVOICING_PARTITIONS": str(settings.partitions),
        "INVOICING_SINK_BACKOFF_BASE": str(settings.sink_backoff_base),
        "INVOICING_SINK_BACKOFF_MAX": str(settings.sink_backoff_max),
        "INVOICING_SINK_MAX_ATTEMPTS": str(settings.sink_max_attempts),
        "INVOICING_SINK_TIMEOUT": str(settings.sink_timeout),
        "INVOICING_STORE": settings.store,
        # the defaults, as production runs: table recovery reads to the end the fetch responses report (patch 5 in
        # streams/faust_patches.py), so the embedded broker's short ListOffsets answer after multi-record batches
        # needs neither one record per batch nor Faust's RocksDB offset check turned off
        "INVOICING_LOG_LEVEL": os.environ.get("TEST_WORKER_LOG_LEVEL", "WARNING"),  # INFO to debug a worker test
        "INVOICING_REGISTER_PATH": str(settings.output_dir.parent / "register.db"),
    }


class WorkerProcess:
    """`invoicing worker` in a child process, as production runs it."""

    def __init__(self, settings: Settings, bootstrap: str, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.extra_env = dict(env or {})
        self.metrics_port = free_port()
        self.log_path = log_path or (settings.output_dir.parent / f"worker-{uuid.uuid4().hex[:6]}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        env = {**os.environ, **settings_env(self.settings, self.bootstrap), **self.extra_env,
               "INVOICING_METRICS_PORT": str(self.metrics_port)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "invoicing", "worker"], env=env, cwd=str(REPO),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include *labels*."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def read_topic(bootstrap: str, topic: str, *, count: int | None = None, timeout: float = 30.0,
                     idle: float | None = None) -> list[Any]:
    """Messages of *topic* from the beginning: until *count* are read, or until *idle*
    seconds pass with nothing new, or *timeout*."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] = set()
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await asyncio.sleep(0.1)
        if not parts:
            return out
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                out.extend(msgs)
                last_new = time.monotonic()
            if count is not None and len(out) >= count:
                if idle is None:
                    break
            if idle is not None and time.monotonic() - last_new >= idle and (count is None or len(out) >= count):
                break
        return out
    finally:
        await consumer.stop()


async def topic_size(bootstrap: str, topic: str) -> int:
    """Messages on *topic* (sum of end offsets; 0 when it does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            return 0
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return sum(ends.values())
    finally:
        await consumer.stop()


def decoded(messages: list[Any], schema: str) -> list[dict[str, Any]]:
    return [decode(schema, m.value) for m in messages]


@asynccontextmanager
async def running_gateway(settings: Settings, bootstrap: str,
                          sources: Mapping[str, Source] | None = None) -> AsyncIterator[str]:
    """A real gateway on a loopback port, publishing to the real broker. Yields its base URL."""
    publisher = RawEventPublisher(settings, bootstrap)
    await publisher.start()
    port = free_port()
    app = create_gateway(settings, publisher, sources)
    server = gateway_server(app, settings, "127.0.0.1", port)  # the production server, with its limits
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await publisher.stop()


async def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(interval)
    return False


from demo.samples import invoices as _invoices  # noqa: E402

# re-exported: the tests take them from here
demo_reference, sample_invoice = _invoices.demo_reference, _invoices.sample_invoice
