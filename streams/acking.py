"""Every agent reads its stream through here: each record processed once, in offset order, and
acknowledged only after the agent finished with it.

``processed_events(stream, agent)`` gives three guarantees that Faust alone does not:

* **Acknowledged when done.** Faust acknowledges an event in a ``finally`` block around its
  ``yield``: an agent cancelled half-way through an event (a worker stopping on SIGTERM, or an
  actor restart on a rebalance) or that raises still acknowledges it, and the next commit moves
  the group's offset past work that was cut short. Here the stream is read with Faust's acks
  off and an event is acknowledged when the agent asks for the next one, i.e. after the body of
  the ``async for`` ran to its end (or to ``continue``). An interrupted event stays
  unacknowledged; the commit stops before it and the partition's next owner processes it again
  (every agent is idempotent for exactly that case).
* **In offset order, without holes.** The guard knows, per partition, the next offset the agent
  must process: the committed offset when the partition is (re)assigned, then one past the last
  record processed. A record below it was already processed (the consumer delivered it again
  after a seek) and is acknowledged and skipped. A record above it means records in between
  never reached the agent: it is held back (not processed, not acknowledged), the partition is
  sought back to the missing offset, and the records are read again, in order. Faust has lost
  records this way (see ``streams/faust_patches.py``); this guard turns any such loss, known or
  not, into a re-read counted in ``invoicing_stream_gaps_total``. Only records the log no
  longer holds (deleted by retention) are passed over, with an error.
* **Nothing stalls silently.** A timer on every worker re-reads a partition whose agent is idle
  while its committed position stays behind the end of the log, and repeats a re-read that has
  not arrived.

* **No writes from a worker that lost the partition.** When a rebalance starts, the worker waits
  (briefly) until its stateful agents have finished the event in hand and flushes what they
  wrote, before the partitions move: the next owner's table recovery then sees every write.
  A long event (closing many billing cycles) checks ``stop_if_rebalancing`` between steps and
  raises ``Interrupted``: it is left unacknowledged and the next owner processes it again.

``guarded`` wraps the body: an exception the agent did not anticipate parks the event on the
dead-letter topic (retriable, with the error) and the agent goes on, instead of the actor
crashing with the event unacknowledged, which would hold the partition's commit back until the
next restart and then fail the same way again.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from domain.jsonlog import start_log_context
from domain.metrics import STREAM_GAPS, STREAM_REDELIVERED
from streams.faust_patches import committed_offset, log_start_client, set_read_offset

__all__ = ["processed_events", "processed_batches", "guarded", "OffsetGuard", "Verdict", "Interrupted",
           "stop_if_rebalancing"]

log = logging.getLogger("streams.worker")


class Interrupted(Exception):
    """An agent stopped in the middle of an event because its partitions are being reassigned: the
    event stays unacknowledged, and whoever owns the partition next processes it again."""


def stop_if_rebalancing(app: Any, event: Any) -> None:
    """Raise ``Interrupted`` when a rebalance has started since *event* was read (call between the
    steps of a long event).

    Raises:
        Interrupted: a rebalance started.
    """
    if app.rebalancing or event.message.generation_id != app.consumer_generation_id:
        raise Interrupted(f"rebalance during {event.message.topic}[{event.message.partition}]@{event.message.offset}")


class Verdict(enum.Enum):
    PROCESS = "process"
    SKIP = "skip"  # processed before: acknowledge, do not process again
    HOLD = "hold"  # records before it are missing: neither process nor acknowledge


@dataclass
class _Partition:
    """What one agent knows of one partition in one consumer generation."""

    generation: int
    next: int | None  # next offset to process; None: unknown (no committed offset), take the first
    last_progress: float = field(default_factory=time.monotonic)
    reread_from: int | None = None  # a re-read from this offset is under way
    reread_at: float = 0.0
    attempts: int = 0


class OffsetGuard:
    """Per worker: the next offset each agent must process, per partition (see the module docstring).

    Args:
        app: the Faust app.
        reread_interval: seconds before a re-read that has not arrived is asked for again.
        stall_after: seconds an idle agent may stay behind the end of one of its partitions before
            that partition is read again.
    """

    def __init__(self, app: Any, *, reread_interval: float = 2.0, stall_after: float = 20.0) -> None:
        self.app = app
        self.reread_interval = reread_interval
        self.stall_after = stall_after
        self.partitions: dict[tuple[str, Any], _Partition] = {}
        self.topics: dict[str, frozenset[str]] = {}  # agent -> the topics it reads
        self.busy: dict[str, bool] = {}  # agent -> in the middle of an event
        self._generation: tuple[int, float] = (-1, 0.0)  # consumer generation, and when the check first saw it settled
        self._unfinished: set[tuple[Any, int]] = set()  # (tp, offset) of events an agent was interrupted in

    @classmethod
    def install(cls, app: Any, *, check_interval: float = 5.0, wait_on: tuple[str, ...] = (),
                wait_at_most: float = 5.0, **kwargs: Any) -> "OffsetGuard":
        """Attach a guard to *app* (call before the app starts): its stall check runs on every worker, and
        when partitions are revoked the worker waits up to *wait_at_most* seconds for the agents *wait_on*
        to finish the event in hand, then flushes the producer."""
        guard = cls(app, **kwargs)
        app.invoicing_offset_guard = guard

        @app.timer(check_interval, name="invoicing.offset_guard")  # type: ignore[untyped-decorator]
        async def check_stalls() -> None:
            await guard.check_stalls()

        async def on_revoked(_app: Any, revoked: Any, **_kwargs: Any) -> None:
            if revoked and wait_on:
                await guard.wait_idle(wait_on, wait_at_most)
                await app.producer.flush()

        app.on_partitions_revoked.connect(on_revoked)
        return guard

    @classmethod
    def of(cls, app: Any) -> "OffsetGuard":
        guard = getattr(app, "invoicing_offset_guard", None)
        if guard is None:
            guard = app.invoicing_offset_guard = cls(app)
        return guard

    def register(self, agent: str, topics: Any) -> None:
        self.topics[agent] = frozenset(topics)
        self.busy.setdefault(agent, False)

    # -- per record -----------------------------------------------------------------------
    def _state(self, agent: str, tp: Any, generation: int) -> _Partition:
        key = (agent, tp)
        state = self.partitions.get(key)
        if state is None or state.generation != generation:
            committed = committed_offset(self.app.consumer, tp)
            state = self.partitions[key] = _Partition(generation, committed)
        return state

    def admit(self, agent: str, message: Any) -> Verdict:
        """What *agent* does with *message*."""
        state = self._state(agent, message.tp, message.generation_id)
        offset = message.offset
        if state.next is None or offset == state.next:
            if state.reread_from is not None:
                log.info("%s: %s[%s] read again from offset %d", agent, message.topic, message.partition, offset)
                state.reread_from, state.attempts = None, 0
            self.busy[agent] = True
            return Verdict.PROCESS
        if offset < state.next:
            STREAM_REDELIVERED.labels(message.topic).inc()
            return Verdict.SKIP
        return Verdict.HOLD

    def done(self, agent: str, message: Any) -> None:
        state = self._state(agent, message.tp, message.generation_id)
        state.next = message.offset + 1
        state.last_progress = time.monotonic()
        self.busy[agent] = False

    def done_batch(self, agent: str, batch: list[Any]) -> None:
        now = time.monotonic()
        for event in batch:
            self._state(agent, event.message.tp, event.message.generation_id).last_progress = now
        self.busy[agent] = False

    def reserve(self, agent: str, message: Any) -> None:
        """*message* joins a batch: the next record of its partition may join too (batch mode)."""
        self._state(agent, message.tp, message.generation_id).next = message.offset + 1

    def release(self, agent: str, batch: list[Any]) -> None:
        """A batch was not finished: its partitions go back to their first record in it (read again)."""
        first: dict[tuple[Any, int], int] = {}
        for event in batch:
            m = event.message
            first.setdefault((m.tp, m.generation_id), m.offset)
        for (tp, generation), offset in first.items():
            self._state(agent, tp, generation).next = offset
        self.busy[agent] = False

    def interrupted(self, agent: str) -> None:
        """The agent stopped in the middle of an event (it stays unacknowledged)."""
        self.busy[agent] = False

    def unfinished(self, message: Any) -> None:
        """The agent raised ``Interrupted`` on *message*: leave it unacknowledged."""
        self._unfinished.add((message.tp, message.offset))

    def take_unfinished(self, message: Any) -> bool:
        key = (message.tp, message.offset)
        if key in self._unfinished:
            self._unfinished.discard(key)
            return True
        return False

    async def wait_idle(self, agents: tuple[str, ...], timeout: float) -> bool:
        """Wait until none of *agents* is in the middle of an event; False when *timeout* passed first."""
        deadline = time.monotonic() + timeout
        while any(self.busy.get(a) for a in agents):
            if time.monotonic() >= deadline:
                log.warning("rebalance: %s still busy after %.1f s; going on", [a for a in agents if self.busy.get(a)],
                            timeout)
                return False
            await asyncio.sleep(0.01)
        return True

    async def hold(self, agent: str, message: Any) -> Verdict:
        """*message* came before records it follows: read its partition again from the first missing
        offset. Records the log no longer holds (retention) are passed over, with an error; the
        verdict is then PROCESS when *message* is the next one."""
        state = self._state(agent, message.tp, message.generation_id)
        assert state.next is not None
        now = time.monotonic()
        if state.reread_from == state.next and now - state.reread_at < self.reread_interval:
            # a re-read is under way and this record was queued before it: drop it. The consumer noted it as
            # read when it queued it, and would then discard the re-read records below it: undo that note.
            set_read_offset(self.app.consumer, message.tp, state.next)
            return Verdict.HOLD
        first = state.reread_from != state.next
        if first:
            STREAM_GAPS.labels(message.topic).inc()
            log.warning("%s: %s[%s] offset %d arrived before %d..%d; reading them again", agent, message.topic,
                        message.partition, message.offset, state.next, message.offset - 1)
            state.attempts = 1
        else:
            state.attempts += 1
            start = await self._log_start(message.tp)
            if start is not None and start > state.next:
                log.error("%s: records %d..%d of %s[%s] are no longer in the log (retention); passing over them",
                          agent, state.next, start - 1, message.topic, message.partition)
                state.next, state.reread_from, state.attempts = start, None, 0
                if start == message.offset:
                    self.busy[agent] = True
                    return Verdict.PROCESS
            elif state.attempts % 10 == 0:
                log.error("%s: %s[%s] still waiting for offset %d after %d re-reads", agent, message.topic,
                          message.partition, state.next, state.attempts)
        state.reread_from, state.reread_at = state.next, now
        await self._seek(message.tp, state.next)
        return Verdict.HOLD

    # -- the timer ------------------------------------------------------------------------
    async def check_stalls(self) -> None:
        """Ask again for re-reads that did not arrive; read again a partition whose agent is idle while
        the partition's log goes on past the next offset to process (records that never arrived)."""
        app, consumer = self.app, self.app.consumer
        if app.rebalancing or not getattr(consumer, "flow_active", True):
            return
        now = time.monotonic()
        generation = app.consumer_generation_id
        if self._generation[0] != generation:
            self._generation = (generation, now)
        settled_at = self._generation[1]
        for tp in consumer.assignment():
            for agent, topics in self.topics.items():
                if tp.topic not in topics or self.busy.get(agent):
                    continue
                state = self._state(agent, tp, generation)
                if state.next is None:
                    continue
                if state.reread_from is not None:
                    if now - state.reread_at >= self.reread_interval * 2:
                        log.info("%s: %s[%s] re-read from %d has not arrived; asking again", agent, tp.topic,
                                 tp.partition, state.reread_from)
                        state.reread_at = now
                        await self._seek(tp, state.reread_from)
                    continue
                end = consumer.highwater(tp)
                if (end is not None and state.next < end and now - state.last_progress >= self.stall_after
                        and now - settled_at >= self.stall_after):
                    STREAM_GAPS.labels(tp.topic).inc()
                    log.warning("%s: idle at %s[%s] offset %d with the log at %d; reading it again", agent, tp.topic,
                                tp.partition, state.next, end)
                    state.reread_from, state.reread_at, state.attempts, state.last_progress = state.next, now, 1, now
                    await self._seek(tp, state.next)

    async def _seek(self, tp: Any, offset: int) -> None:
        """Move the consumer of *tp* back to *offset*. A failure (the partition was just taken away by a
        rebalance, which seeks to the committed offsets anyway) is logged; the stall check asks again."""
        try:
            await self.app.consumer.seek_wait({tp: offset})
        except Exception as exc:  # noqa: BLE001 - never let a re-read take the agent down
            log.warning("re-read of %s[%s] from %d not started: %s", tp.topic, tp.partition, offset, exc)

    async def _log_start(self, tp: Any) -> int | None:
        """The first offset the log still holds."""
        try:
            thread, client = log_start_client(self.app.consumer)
            atp = TopicPartition(tp.topic, tp.partition)
            offsets = await thread.call_thread(client.beginning_offsets, [atp])
            return int(offsets[atp])
        except Exception as exc:  # noqa: BLE001 - without it the re-read is simply asked for again
            log.warning("log start of %s[%s] unknown: %s", tp.topic, tp.partition, exc)
            return None


async def processed_events(stream: Any, agent: str) -> AsyncIterator[Any]:
    """The events of *stream* for *agent*, each once, in offset order, acknowledged after processing."""
    guard = OffsetGuard.of(stream.app)
    guard.register(agent, _topic_names(stream))
    manual = stream.noack()
    async for event in manual.events():
        message = event.message
        verdict = guard.admit(agent, message)
        if verdict is Verdict.HOLD:
            verdict = await guard.hold(agent, message)
        if verdict is Verdict.SKIP:
            await manual.ack(event)
            continue
        if verdict is Verdict.HOLD:
            continue
        try:
            yield event
        except BaseException:
            guard.interrupted(agent)
            raise
        if guard.take_unfinished(message):
            guard.interrupted(agent)  # left unacknowledged: processed again after the rebalance
            continue
        await manual.ack(event)  # reached only when the agent comes back for the next event
        guard.done(agent, message)


async def processed_batches(stream: Any, agent: str, size: int, within: float) -> AsyncIterator[list[Any]]:
    """``processed_events`` in batches: up to *size* events, gathered for at most *within* seconds after
    the first. Every event of a batch is acknowledged only when the agent comes back for the next batch;
    a batch cut short is left unacknowledged and read again."""
    guard = OffsetGuard.of(stream.app)
    guard.register(agent, _topic_names(stream))
    manual = stream.noack()
    events = manual.events().__aiter__()
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[Any] | None = None  # the next event, asked for and not yet come
    try:
        while True:
            batch: list[Any] = []
            deadline: float | None = None
            while len(batch) < size:
                if pending is None:
                    pending = asyncio.ensure_future(events.__anext__())
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if not done:
                    break
                future, pending = pending, None
                try:
                    event = future.result()
                except StopAsyncIteration:
                    return
                verdict = guard.admit(agent, event.message)
                if verdict is Verdict.HOLD:
                    verdict = await guard.hold(agent, event.message)
                if verdict is Verdict.SKIP:
                    await manual.ack(event)
                elif verdict is Verdict.PROCESS:
                    guard.reserve(agent, event.message)
                    batch.append(event)
                    deadline = deadline if deadline is not None else loop.time() + within
            if not batch:
                continue
            guard.busy[agent] = True
            try:
                yield batch
            except BaseException:
                guard.release(agent, batch)
                raise
            for event in batch:
                await manual.ack(event)
            guard.done_batch(agent, batch)
    finally:
        if pending is not None:
            pending.cancel()


def _topic_names(stream: Any) -> list[str]:
    """The topics a stream reads (none for an in-memory channel, as in Faust's test context)."""
    return list(getattr(stream.channel, "topics", None) or ())


@asynccontextmanager
async def guarded(p: Any, event: Any, stage: str) -> AsyncIterator[None]:
    """``async with guarded(p, event, stage):`` around an agent's handling of one event. Cancellation
    (a ``BaseException``) passes through untouched: the event is then processed again."""
    start_log_context(stage=stage)  # the agent adds platform, event id, order key, invoice number as it learns them
    try:
        yield
    except Interrupted as exc:
        log.info("%s: %s; left for the partition's next owner", stage, exc)
        OffsetGuard.of(p.app).unfinished(event.message)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the event is parked with the reason, not lost
        log.error("%s: unexpected %s on %s[%s]@%s", stage, type(exc).__name__, event.message.topic,
                  event.message.partition, event.message.offset, exc_info=True)
        await p.dead_letter(event, stage=stage, error=exc, retriable=True)  # worded by domain.reasons
