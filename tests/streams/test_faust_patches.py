"""streams.faust_patches: the Faust methods it replaces are still the ones it was written against.

A Faust upgrade that changes one of them fails here, so the patch is reviewed (kept, adapted or
dropped) instead of silently replacing code it no longer matches. The behaviour the patches give
is proven on the real broker by tests/streams/test_pipeline_e2e.py (a killed worker restarted with
events waiting loses none of them) and tests/streams/test_offset_guard.py.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables.recovery import ServiceStopped
from faust.types import TP

from demo.state_bench import write_changelog
from domain.errors import PipelineError
from domain.settings import Settings
from streams import faust_patches
from streams.app import create_app
from streams.tables import declare_tables
from tests.support import REPO
from streams.faust_patches import _ActivePartitions

#: sha256 (first 16 hex digits) of each replaced method's source in faust-streaming 0.15.3
WRITTEN_AGAINST = {
    "Recovery.on_recovery_completed": "6ef567acf072e46d",
    "Recovery._resume_streams": "d986a6710c1aca98",
    "AIOKafkaConsumerThread._fetch_records": "39a2c6c79fc1455a",
    "AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",
    "Consumer.wait_first": "feade6a31f8a6789",  # mode's Service.wait_first, which the consumer inherits
    "Consumer._drain_messages": "44a2500309e83c63",  # relied on: how it calls wait_first per record
    "Recovery._build_offsets": "27eec86be06cb51f",
    "Recovery._wait": "ec7429b70176f8c6",
}


def test_the_replaced_faust_methods_are_unchanged() -> None:
    seen = {}
    for cls, name, _ in faust_patches.PATCHED:
        source = inspect.getsource(faust_patches.original(cls, name))
        seen[f"{cls.__name__}.{name}"] = hashlib.sha256(source.encode()).hexdigest()[:16]
    for cls, name in faust_patches.RELIED_ON:
        source = inspect.getsource(getattr(cls, name))
        seen[f"{cls.__name__}.{name}"] = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert seen == WRITTEN_AGAINST, f"faust {faust.__version__} changed a patched method: review streams/faust_patches.py"


def test_apply_installs_every_patch() -> None:
    faust_patches.apply()
    for cls, name, replacement in faust_patches.PATCHED:
        assert getattr(cls, name) is replacement


def test_the_fetch_filter_is_never_read_as_all_partitions() -> None:
    live: set[tuple[str, int]] = set()
    only_active = _ActivePartitions(live)
    assert only_active, "aiokafka skips an empty (falsy) filter and returns every partition's records"
    assert ("orders", 0) not in only_active
    live.add(("orders", 0))  # a partition resumed while the fetch waits: seen at once
    assert ("orders", 0) in only_active


def test_every_private_attribute_touched_is_present_in_the_pinned_versions() -> None:
    faust_patches.check_internals()


def test_a_missing_private_attribute_stops_the_worker_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """As an upgrade that drops one would: the worker's app is not built, and the error names the attribute."""
    from aiokafka.consumer.fetcher import Fetcher

    monkeypatch.setattr(faust_patches, "PRIVATE", faust_patches.PRIVATE + [(Fetcher, "_gone_in_a_new_version", "set")])
    with pytest.raises(PipelineError, match=r"aiokafka\.consumer\.fetcher\.Fetcher\._gone_in_a_new_version"):
        create_app(Settings(), "127.0.0.1:9")
    monkeypatch.setattr(faust_patches, "PRIVATE", [(faust_patches.Recovery, "_wait_renamed", "method")])
    with pytest.raises(PipelineError, match=r"Recovery\._wait_renamed"):
        faust_patches.check_internals()


def test_no_private_attribute_of_faust_or_aiokafka_is_touched_outside_this_module() -> None:
    """Private attributes of Faust and aiokafka objects are read in streams/faust_patches.py only, where
    PRIVATE lists them (the readers of the broker outside `streams` use aiokafka's ``_client`` for a
    metadata refresh, listed there as AIOKafkaConsumer._client)."""
    offenders = []
    for path in sorted((REPO / "streams").glob("*.py")):
        if path.name == "faust_patches.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(app|consumer|thread|fetcher|recovery)\._[a-z]", line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert not offenders, offenders


@pytest.fixture
async def consumer() -> Any:
    """What patch 4's ``wait_first`` uses of Faust's consumer: a real mode Service (the stopped and crashed
    events the original ``wait_first`` also waits on) with a suspend_flow event."""
    from mode import Service
    from mode.utils.locks import Event

    class FlowService(Service):
        suspend_flow: Event

    svc = FlowService()
    svc.suspend_flow = Event()
    return svc


async def test_a_callback_that_never_waits_runs_without_any_task(consumer: Any) -> None:
    made: list[Any] = []
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()
    loop.set_task_factory(lambda lp, coro, **kw: made.append(coro) or asyncio.Task(coro, loop=lp, **kw))
    try:
        async def callback() -> str:
            return "delivered"
        result = await faust_patches.wait_first(consumer, callback(), consumer.suspend_flow.wait())
    finally:
        loop.set_task_factory(factory)
    assert result.results == ["delivered"] and not result.stopped
    assert made == []  # the original makes four tasks for this one record


async def test_a_callback_that_waits_is_finished_or_interrupted_as_before(consumer: Any) -> None:
    gate = asyncio.Event()
    steps: list[str] = []

    async def callback() -> str:
        steps.append("queued")
        await gate.wait()  # a full stream buffer
        steps.append("put")
        return "delivered"

    waiting = asyncio.ensure_future(faust_patches.wait_first(consumer, callback(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert steps == ["queued"] and not waiting.done()
    gate.set()
    result = await asyncio.wait_for(waiting, 5)
    assert result.results == ["delivered"] and steps == ["queued", "put"]

    gate.clear()
    steps.clear()
    waiting = asyncio.ensure_future(faust_patches.wait_first(consumer, callback(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance: the blocked callback gives way and is cancelled, as in mode
    result = await asyncio.wait_for(waiting, 5)
    assert result.results == [True] and steps == ["queued"]
    gate.set()
    await asyncio.sleep(0.01)
    assert steps == ["queued"], "the interrupted callback went on after the rebalance"


async def test_an_error_in_the_callback_reaches_the_consumer(consumer: Any) -> None:
    async def callback() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        await faust_patches.wait_first(consumer, callback(), consumer.suspend_flow.wait())


# -- patch 5: the bulk read of active changelog partitions, on the real broker ----------------------------

class _Recovery:
    """What ``bulk_recover`` uses of Faust's Recovery: the tables by changelog partition, the app (its brokers
    and settings) and the signal a new rebalance sets."""

    def __init__(self, app: Any, tables: dict[Any, Any]) -> None:
        self.app, self.tp_to_table = app, tables
        self.signal_recovery_start = asyncio.Event()
        self.log = logging.getLogger("test.recovery")


async def _changelog(settings: Settings, bootstrap: str, records: list[tuple[bytes, bytes | None]]) -> tuple[Any, Any]:
    """A Faust app on *bootstrap*, its ``orders`` table (memory store), and that table's changelog partition
    holding *records* (one partition)."""
    table = declare_tables(create_app(settings, bootstrap)).orders
    topic = await write_changelog(settings, bootstrap, "orders", records, partitions=1)
    assert topic == table.changelog_topic.get_topic_name()
    return table, TP(topic, 0)


async def test_bulk_recovery_applies_the_whole_changelog_last_write_wins(settings: Settings, bootstrap: str) -> None:
    """Up to the log's real end: the highwater Faust takes from the broker's ListOffsets answer is passed in as
    Faust would pass it; the embedded broker reports one past the first offset of the last record batch there,
    so trusting it would leave the states in the rest of that batch unrecovered."""
    writes = [(b"order-%d" % (n % 700), b"state-%d" % n) for n in range(2_500)]  # each key written 3-4 times
    writes[2_000] = (b"order-450", None)  # a deleted state: after its last write (n=1850), nothing after it
    table, tp = await _changelog(settings, bootstrap, writes)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        end = (await probe.end_offsets([TopicPartition(tp.topic, 0)]))[TopicPartition(tp.topic, 0)]
    finally:
        await probe.stop()
    recovery = _Recovery(table.app, {tp: table})
    offsets, highwaters = {tp: -1}, {tp: end - 1}  # as Recovery._build_highwaters sets it
    applied = await faust_patches.bulk_recover(recovery, {tp}, offsets, highwaters, stall=60)
    assert applied == 2_500 and offsets[tp] == 2_499 and highwaters[tp] == 2_499
    expected: dict[bytes, bytes | None] = {}
    for key, value in writes:
        expected[key] = value
    held = dict(table.data.items())
    assert held == {k: v for k, v in expected.items() if v is not None}
    assert b"order-450" not in held and held[b"order-99"] == b"state-2199"


async def test_bulk_recovery_starts_where_faust_would_and_leaves_the_rest_when_told_or_rebalancing(
        settings: Settings, bootstrap: str) -> None:
    table, tp = await _changelog(settings, bootstrap, [(b"k%d" % n, b"v%d" % n) for n in range(300)])
    recovery = _Recovery(table.app, {tp: table})
    offsets = {tp: 199}  # persisted up to offset 199: only 200..299 are read
    assert await faust_patches.bulk_recover(recovery, {tp}, offsets, {tp: 299}, stall=60) == 100
    assert offsets[tp] == 299 and set(dict(table.data.items())) == {b"k%d" % n for n in range(200, 300)}
    # persisted up to the end, with a highwater reported too low: nothing to read, and Faust is told the real
    # end (its consistency check refuses a persisted offset past the highwater)
    highwaters = {tp: 120}
    assert await faust_patches.bulk_recover(recovery, {tp}, offsets, highwaters, stall=60) == 0
    assert offsets[tp] == 299 and highwaters[tp] == 299

    table.data.clear()
    offsets = {tp: -1}
    assert await faust_patches.bulk_recover(recovery, {tp}, offsets, {tp: 299}, stall=0) == 0
    recovery.signal_recovery_start.set()  # a new rebalance: Faust starts over, the bulk read stops
    assert await faust_patches.bulk_recover(recovery, {tp}, offsets, {tp: 299}, stall=60) == 0
    assert offsets[tp] == -1 and not dict(table.data.items())  # Faust's own loop reads it all


async def test_a_table_with_a_changelog_callback_keeps_fausts_path(settings: Settings, bootstrap: str) -> None:
    table, tp = await _changelog(settings, bootstrap, [(b"k", b"v")])

    async def seen(event: Any) -> None: ...

    table._on_changelog_event = seen  # noqa: SLF001 - a table that wants every record: Faust's loop calls it
    offsets = {tp: -1}
    assert await faust_patches.bulk_recover(_Recovery(table.app, {tp: table}), {tp}, offsets, {tp: 0}, stall=60) == 0
    assert offsets[tp] == -1


async def test_the_bulk_read_step_is_not_cut_off_by_fausts_step_timeout(settings: Settings) -> None:
    """Faust gives each recovery step ``broker_request_timeout`` and takes running out of it for the service
    stopping (ServiceStopped ends recovery): ten million states take longer than that to read. The active
    ``_build_offsets`` step (the bulk read) goes without it; every other step keeps it."""
    app = create_app(settings, "127.0.0.1:9")
    recovery = app.tables.recovery

    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "read"

    with pytest.raises(ServiceStopped):
        await faust_patches._wait(recovery, slow(), timeout=0.05)  # Faust's own behaviour for every other step
    await faust_patches._wait(recovery, faust_patches._WithoutTimeout(slow()), timeout=0.05)

    class NoPartitions:  # Faust's consumer as the step uses it when the worker has no active partitions
        async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
            return {}

    step = faust_patches._build_offsets(recovery, NoPartitions(), set(), {}, "active")
    assert isinstance(step, faust_patches._WithoutTimeout)
    await faust_patches._wait(recovery, step, timeout=0.05)  # no partitions: the original step, nothing to read
    standby = faust_patches._build_offsets(recovery, NoPartitions(), set(), {}, "standby")
    assert not isinstance(standby, faust_patches._WithoutTimeout)
    standby.close()
