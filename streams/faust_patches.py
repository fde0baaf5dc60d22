"""Corrections to faust-streaming 0.15 that at-least-once processing depends on.

Each patch replaces one method, says what goes wrong without it, and is applied once
(``apply``) before the App is built. ``tests/streams/test_faust_patches.py`` checks that the
patched methods are still the ones this module was written against, so a Faust upgrade
that changes them fails a test instead of silently dropping a correction.

1. **Records lost when a worker (re)joins the group.** At the end of table recovery
   Faust resumes the stream partitions, seeks them to the committed offsets, and only
   then calls ``flow_control.resume()``, which empties every stream's inbound queue.
   Whatever the fetcher delivered between the seek and that call is thrown away while
   the consumer's position has already moved past it: those records are never
   processed (seen here: a restarted worker skipped the raw events that had waited for
   it, and the orders in them were never invoiced). The patched order empties the
   queues first, seeks while the stream partitions are still paused, and resumes them
   last, so the first record any stream sees is the one at the committed offset.
2. **Records fetched for paused partitions.** Faust passes its live set of active
   partitions to aiokafka as a filter, and aiokafka reads an *empty* filter as "every
   partition". When the last active partitions are paused while a fetch is under way
   (the end of table recovery pauses the changelog partitions before the stream
   partitions are resumed), aiokafka hands over the records of every partition and moves
   their positions past them, and Faust drops the ones of partitions that are not active.
   The filter given to aiokafka is now never empty: it always means "the active ones".
3. **Consumer fetch wait.** Faust hard-codes the consumer's ``fetch_max_wait_ms`` to
   1,500 ms: every hop between agents can then wait that long on a quiet partition.
   The configured wait is used instead.
4. **Four asyncio tasks per record.** ``Consumer._drain_messages`` hands each fetched record to
   the topic's callback through ``wait_first(callback(message), suspend_flow.wait())``, so that a
   callback blocked on a full stream buffer can be interrupted by a rebalance. ``wait_first``
   creates and cancels four tasks for every record (the callback, the suspend wait, the stopped
   and the crashed waits), although nearly every callback finishes without waiting at all: a
   py-spy sample of a worker recovering a table showed that machinery as its largest cost. The
   consumer's ``wait_first`` now first runs the callback to its first suspension; if it finishes
   there, no task is made; if it suspends, the rest runs under the original ``wait_first``,
   which still lets the suspend, stop and crash events win. (Measured with
   ``invoicing bench --state --keys 200000``: recovery 26.3 and 26.7 s before, 19.3 and 22.3 s after.)
5. **Table recovery one record at a time.** Faust recovers a table by resuming its changelog
   partitions on the worker's consumer: every record goes through the conductor, a queue and
   ``Recovery._slurp_changelogs``, which takes it with ``asyncio.wait_for`` (a task per record) and
   recomputes the remaining count of every partition after each one (``invoicing bench --state``
   on this machine: 200,000 order states in 31 and 34 s; a plain consumer reads them in under 1 s).
   Right after Faust has worked out where each active changelog partition starts, a separate
   consumer (no group, the worker's brokers) now reads those partitions from there to the end of
   the log in batches, and each batch goes to the table's store with ``apply_changelog_batch``,
   as Faust's loop does every 1,000 records. Faust's offsets then say "read up to here" and its
   loop has nothing left to read (200,000 states: 2.4 s; 1,000,000: 12.6 s). The end of the log is
   the high watermark of the fetch responses: the embedded broker answers ListOffsets, where Faust
   takes its highwater, with one past the *first* offset of the last record batch, so Faust alone
   can stop short of the states in the rest of that batch. A table with a changelog callback or
   non-raw serialisation, a global table and a worker in a transaction keep Faust's path; so does
   the remainder when a new rebalance starts or no record comes for ``broker_request_timeout``.
   Faust gives the step where the read happens ``broker_request_timeout`` in all, and takes running
   out of it for the service stopping; ``Recovery._wait`` lets that one step take as long as it reads.

This module is also the one place the project reads or writes a private attribute of Faust or
aiokafka (`committed_offset`, `set_read_offset`, `log_start_client` for ``streams/acking.py``).
`PRIVATE` lists every one of them, and `check_internals` (run by `streams.app.create_app`, i.e.
when a worker starts) fails with the attribute's name when an upgrade removed one.
"""
from __future__ import annotations

import asyncio
import inspect
import re
from importlib.metadata import version
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from aiokafka.consumer.consumer import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.errors import ConsumerStoppedError
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from mode.services import Service, WaitResults
from faust.transport import consumer as _faust_consumer
from faust.transport.drivers import aiokafka as _faust_aiokafka

from domain.errors import PipelineError
from domain.metrics import CHANGELOG_BULK_RECOVERED

__all__ = ["apply", "set_fetch_max_wait_ms", "PATCHED", "RELIED_ON", "PRIVATE", "check_internals", "committed_offset",
           "set_read_offset", "log_start_client"]

_FETCH_MAX_WAIT_MS = {"value": 20}
_original_create_worker_consumer = _faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def set_fetch_max_wait_ms(value: int) -> None:
    _FETCH_MAX_WAIT_MS["value"] = value


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original_create_worker_consumer(self, transport)
    consumer._fetch_max_wait_ms = _FETCH_MAX_WAIT_MS["value"]  # noqa: SLF001 - no public setting
    return consumer


class _ActivePartitions:
    """The live set of active partitions, as a filter that is never empty (patch 2)."""

    __slots__ = ("live",)

    def __init__(self, live: Any) -> None:
        self.live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.live


async def _fetch_records(self: Any, consumer: Any, active_partitions: Any, timeout: float | None = None,
                         max_records: int | None = None) -> Any:
    """``AIOKafkaConsumerThread._fetch_records`` with a filter aiokafka cannot read as "all" (patch 2)."""
    if not self.consumer.flow_active:
        return {}
    fetcher = consumer._fetcher  # noqa: SLF001
    if consumer._closed or fetcher._closed:  # noqa: SLF001
        raise ConsumerStoppedError()
    partitions = None if active_partitions is None else _ActivePartitions(active_partitions)
    with fetcher._subscriptions.fetch_context():  # noqa: SLF001
        return await fetcher.fetched_records(partitions, timeout=timeout, max_records=max_records)


async def _resume_stream_partitions(recovery: Any) -> None:
    """Empty the stream queues, seek to the committed offsets, then resume fetching (patch 1)."""
    app = recovery.app
    consumer = app.consumer
    assignment = consumer.assignment()
    app.flow_control.resume()  # drops what was queued before the seek (it is fetched again after it)
    if assignment:
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)  # noqa: SLF001
        consumer.resume_partitions({tp for tp in assignment if not recovery._is_changelog_tp(tp)})  # noqa: SLF001
    else:
        recovery.log.info("Resuming streams with empty assignment")
    recovery.completed.set()
    consumer.resume_flow()
    await cast(Any, app)._fetcher.maybe_start()  # noqa: SLF001


async def _resume_streams(self: Any, generation_id: int = 0) -> None:
    """``Recovery._resume_streams`` (no tables to recover), with the order of patch 1."""
    await self.app.on_rebalance_complete.send()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    await _resume_stream_partitions(self)
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """``Recovery.on_recovery_completed``, with the order of patch 1."""
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()  # noqa: SLF001
    callbacks = [asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table],
                                                                   self.standbys_for_table[table]))
                 for table in self.tables.values()]
    if callbacks:
        await asyncio.wait(callbacks)
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(f"Recovery rebalancing again app id {self.app.consumer_generation_id} param {generation_id}")
        return
    await _resume_stream_partitions(self)
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


class _Resumed:
    """An awaitable that carries on a coroutine already run to its first suspension (patch 4)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Any:
        value = self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:  # thrown into the awaiting task (a cancellation): pass it on
                try:
                    value = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
    """``Consumer.wait_first`` (``Service.wait_first``) with no tasks for a callback that never waits (patch 4)."""
    if timeout is None and len(coros) == 2 and inspect.iscoroutine(coros[0]) and not self.suspend_flow.is_set():
        callback, suspended = coros
        try:
            waiting_on = callback.send(None)
        except StopIteration as done:
            suspended.close()
            return WaitResults([callback], [done.value], False)
        except BaseException:
            suspended.close()
            raise
        coros = (_Resumed(callback, waiting_on), suspended)
    return await Service.wait_first(self, *coros, timeout=timeout)


#: records per store write in the bulk recovery (patch 5)
BULK_RECOVERY_BATCH = 10_000


class _ChangelogMessage:
    """What a store's ``apply_changelog_batch`` reads of a changelog record's message (patch 5)."""

    __slots__ = ("tp", "partition", "offset", "key", "value")

    def __init__(self, tp: Any, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.tp, self.partition, self.offset, self.key, self.value = tp, tp.partition, offset, key, value


class _ChangelogEvent:
    """A changelog record as the stores' ``apply_changelog_batch`` takes it: raw key and value (patch 5)."""

    __slots__ = ("message", "key", "value")

    def __init__(self, message: _ChangelogMessage) -> None:
        self.message, self.key, self.value = message, message.key, message.value


def _bulk_recoverable(recovery: Any, table: Any) -> bool:
    """Tables whose changelog the bulk path may apply: raw keys and values, no per-record callback."""
    schema = getattr(table, "schema", None)
    raw = schema is not None and schema.key_serializer == "raw" and schema.value_serializer == "raw"
    return raw and not table.is_global and table._on_changelog_event is None and not recovery.app.in_transaction  # noqa: SLF001


async def bulk_recover(recovery: Any, tps: Any, offsets: Any, highwaters: Any, stall: float) -> int:
    """Read the active changelog partitions *tps* from ``offsets[tp] + 1`` to the end of the log with a plain
    consumer and apply them to their tables' stores in batches, moving ``offsets[tp]`` along, and
    ``highwaters[tp]`` with it when the log went on past it (patch 5).

    The end is the high watermark each fetch response carries, not Faust's *highwaters*, which come from a
    ListOffsets request: the embedded broker (Tansu) answers that with one past the *first* offset of the last
    record batch, so a log ending in a batch of many records looks shorter than it is. Stops early, leaving
    the rest to Faust's loop, when a rebalance starts or when no record came for *stall* seconds.

    Returns:
        the number of records applied.
    """
    due = {tp: recovery.tp_to_table[tp] for tp in tps
           if tp in recovery.tp_to_table and offsets.get(tp) is not None
           and _bulk_recoverable(recovery, recovery.tp_to_table[tp])}
    if not due or recovery.signal_recovery_start.is_set() or stall <= 0:
        return 0
    conf = recovery.app.conf
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[f"{url.host}:{url.port or 9092}" for url in conf.broker],
        client_id=f"{conf.broker_client_id}-recovery", group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=100, max_partition_fetch_bytes=conf.consumer_max_fetch_size,
        fetch_max_bytes=max(52_428_800, conf.consumer_max_fetch_size),
        request_timeout_ms=int(float(conf.broker_request_timeout) * 1000))
    applied = 0
    clock = asyncio.get_running_loop().time
    started = progress = clock()
    await consumer.start()
    try:
        by_kafka = {TopicPartition(tp.topic, tp.partition): tp for tp in due}
        consumer.assign(list(by_kafka))
        for ktp, tp in by_kafka.items():
            consumer.seek(ktp, offsets[tp] + 1)
        pending = set(by_kafka)
        while pending and not recovery.signal_recovery_start.is_set() and clock() - progress <= stall:
            fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=BULK_RECOVERY_BATCH)
            for ktp, records in fetched.items():
                tp = by_kafka[ktp]
                batch = [_ChangelogEvent(_ChangelogMessage(tp, r.offset, r.key, r.value))
                         for r in records if r.offset > offsets[tp]]
                if batch:
                    due[tp].apply_changelog_batch(batch)
                    offsets[tp] = batch[-1].message.offset
                    applied += len(batch)
                    progress = clock()
                    CHANGELOG_BULK_RECOVERED.labels(due[tp].name).inc(len(batch))
            for ktp in list(pending):
                end = consumer.highwater(ktp)  # from the last fetch response: one past the log's last offset
                if end is not None and await consumer.position(ktp) >= end:
                    pending.discard(ktp)
                    tp = by_kafka[ktp]
                    if highwaters.get(tp) is None or highwaters[tp] < end - 1:
                        highwaters[tp] = end - 1  # the log's real end, for Faust's count and its consistency check
    finally:
        await consumer.stop()
    recovery.log.info("Bulk-read %d changelog records in %.1f s", applied, clock() - started)
    return applied


class _WithoutTimeout:
    """An awaitable that ``Recovery._wait`` (patched) awaits without its timeout (patch 5)."""

    __slots__ = ("coro",)

    def __init__(self, coro: Any) -> None:
        self.coro = coro

    def __await__(self) -> Any:
        return self.coro.__await__()


def _build_offsets(self: Any, consumer: Any, tps: Any, destination: Any, title: str) -> Any:
    """``Recovery._build_offsets``, then, for the active partitions, the bulk read of patch 5.

    Faust gives this step ``broker_request_timeout`` and takes running out of it for the service stopping;
    reading a large changelog takes longer, so the active step goes without that timeout (a rebalance still
    interrupts it, and the read itself gives up after ``broker_request_timeout`` without a record).
    """
    async def build_and_read() -> None:
        await original(Recovery, "_build_offsets")(self, consumer, tps, destination, title)
        if tps:
            await bulk_recover(self, tps, destination, self.active_highwaters,
                               stall=float(self.app.conf.broker_request_timeout))

    if title != "active":
        return original(Recovery, "_build_offsets")(self, consumer, tps, destination, title)
    return _WithoutTimeout(build_and_read())


async def _wait(self: Any, coro: Any, timeout: Any = None) -> None:
    """``Recovery._wait``, without the timeout for the bulk read of patch 5."""
    if isinstance(coro, _WithoutTimeout):
        coro, timeout = coro.coro, None
    await original(Recovery, "_wait")(self, coro, timeout=timeout)


#: (class, method name, replacement): what ``apply`` installs
PATCHED: list[tuple[type, str, Any]] = [
    (Recovery, "on_recovery_completed", on_recovery_completed),
    (Recovery, "_resume_streams", _resume_streams),
    (_faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", _fetch_records),
    (_faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", _create_worker_consumer),
    (_faust_consumer.Consumer, "wait_first", wait_first),
    (Recovery, "_build_offsets", _build_offsets),
    (Recovery, "_wait", _wait),
]

#: (class, method name): Faust methods a patch depends on without replacing them (patch 4 relies on how
#: ``_drain_messages`` calls ``wait_first``); pinned by the same test as the replaced ones
RELIED_ON: list[tuple[type, str]] = [
    (_faust_consumer.Consumer, "_drain_messages"),
]

_ORIGINALS: dict[tuple[type, str], Any] = {(cls, name): getattr(cls, name) for cls, name, _ in PATCHED}


def original(cls: type, name: str) -> Any:
    """The Faust method a patch replaced (for the test that pins them)."""
    return _ORIGINALS[(cls, name)]


def apply() -> None:
    """Install every patch (idempotent)."""
    for cls, name, replacement in PATCHED:
        setattr(cls, name, replacement)


# -- private attributes, read and written in one place ------------------------------------------------

def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust's consumer last committed (or sought to on assignment) for *tp*."""
    return cast(int | None, consumer._committed_offset.get(tp))  # noqa: SLF001 - set by the seek on assignment


def set_read_offset(consumer: Any, tp: Any, offset: int) -> None:
    """Tell Faust's consumer that *tp* was read up to *offset* (no public API)."""
    consumer._read_offset[tp] = offset  # noqa: SLF001


def log_start_client(consumer: Any) -> tuple[Any, Any]:
    """Faust's consumer thread and the aiokafka consumer inside it (no public API)."""
    thread = consumer._thread  # noqa: SLF001 - the aiokafka consumer lives in Faust's thread
    return thread, thread._ensure_consumer()  # noqa: SLF001


#: (class, attribute, what): every private attribute of Faust or aiokafka this project touches,
#: here and in the helpers above. "method": a method of the class; "attr": a class attribute
#: (a property); "set": an attribute the class (or a base) assigns in its code.
PRIVATE: list[tuple[type, str, str]] = [
    (_faust_consumer.Consumer, "_committed_offset", "set"),
    (_faust_consumer.Consumer, "_read_offset", "set"),
    (_faust_consumer.Consumer, "_drain_messages", "method"),
    (_faust_aiokafka.Consumer, "_thread", "set"),
    (_faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", "method"),
    (_faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", "method"),
    (_faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", "method"),
    (AIOKafkaConsumer, "_fetcher", "set"),
    (AIOKafkaConsumer, "_closed", "set"),
    (AIOKafkaConsumer, "_fetch_max_wait_ms", "set"),
    (AIOKafkaConsumer, "_client", "set"),
    (Fetcher, "_closed", "set"),
    (Fetcher, "_subscriptions", "set"),
    (Fetcher, "fetched_records", "method"),
    (SubscriptionState, "fetch_context", "method"),
    (Recovery, "_wait", "method"),
    (Recovery, "_is_changelog_tp", "method"),
    (Recovery, "_set_recovery_ended", "method"),
    (Recovery, "_resume_streams", "method"),
    (Recovery, "on_recovery_completed", "method"),
    (faust.App, "_fetcher", "attr"),
    (Recovery, "_build_offsets", "method"),
    (Collection, "_on_changelog_event", "set"),
]


def _assigned(cls: type, name: str) -> bool:
    pattern = re.compile(r"self\." + re.escape(name) + r"\s*(:[^=\n]*)?=[^=]")
    for base in cls.__mro__:
        if base is object:
            continue
        try:
            if pattern.search(inspect.getsource(base)):
                return True
        except (OSError, TypeError):
            continue
    return False


def check_internals(private: list[tuple[type, str, str]] | None = None) -> None:
    """Every private attribute in *private* (default `PRIVATE`) is still there.

    Raises:
        PipelineError: names each missing attribute and the installed versions.
    """
    missing = []
    for cls, name, what in private if private is not None else PRIVATE:
        if what == "method":
            present = callable(getattr(cls, name, None))
        elif what == "attr":
            present = hasattr(cls, name)
        else:
            present = _assigned(cls, name)
        if not present:
            missing.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    if missing:
        raise PipelineError(
            f"faust-streaming {version('faust-streaming')} / aiokafka {version('aiokafka')} no longer have "
            f"{', '.join(missing)}: the corrections in streams/faust_patches.py depend on them; pin the versions in "
            "pyproject.toml or revisit the corrections before running this worker")
