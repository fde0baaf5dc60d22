"""Pollers for platforms without webhooks (Wave), or with unreliable ones (WooCommerce, Odoo, as an
option), with a cursor that survives restarts.

Every registered source that is a `sources.polling.PollingSource` is polled: always when the
platform has no webhooks, else when its ``INVOICING_<PLATFORM>_POLL=true`` setting says so. A poll returns a `PollBatch`: raw-event records, built exactly as the
gateway builds them (`raw_event_from_poll`), and the advanced `PollCursor`.

Each cycle publishes the batch to the raw-events topic (key ``platform:event_id``, acks=all)
and only then stores the cursor on the compacted ``invoicing.poll-cursors`` topic, keyed by
platform. A crash between the two re-publishes the batch after a restart: delivery is
at-least-once, and the worker's event-level dedup (same event id) drops the repeats.
Nothing is missed: the cursor never moves past an event that is not on the broker.

The cursor is the largest modification time seen plus the ids seen at exactly that
instant, so items sharing the watermark are neither lost nor repeated.

Platforms whose modification stamp is not the commit time (Odoo's ``write_date`` is the
transaction's start) also keep the ``(id, time)`` pairs seen inside an overlap window below the
watermark (`PollCursor.is_new_within` / `advance_within`): each query re-reads the window, and a
change that became visible late with a stamp inside the window is still new, while what was seen
is not repeated. `poll_keyset` is that loop for REST-style list endpoints (WooCommerce, Odoo),
and `PollOptions` the settings it reads (``INVOICING_<PLATFORM>_POLL``, ``_POLL_PAGE_SIZE``, ...).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from domain.codec import encode
from domain.errors import PipelineError, SourceError
from domain.settings import Settings
from domain.topics import Topics
from infra.broker import producer as new_producer
from sources.polling import PollCursor, PollingSource
from sources.registry import SOURCES

__all__ = ["CursorStore", "Poller", "pollable_sources"]

log = logging.getLogger("sources.ingress.poller")


def pollable_sources(platform: str | None = None) -> dict[str, Any]:
    """Registered sources to poll, built from their settings."""
    out: dict[str, Any] = {}
    for name, cls in SOURCES.items():
        if platform and name != platform:
            continue
        if not issubclass(cls, PollingSource):
            continue
        source = cls()
        if not source.polling_enabled():
            continue
        out[name] = source
    return out


class CursorStore:
    """Cursors on a compacted topic, keyed by platform."""

    def __init__(self, settings: Settings, bootstrap: str, producer: AIOKafkaProducer) -> None:
        self.topic = Topics.from_settings(settings).poll_cursors
        self.bootstrap = bootstrap
        self.producer = producer

    async def load(self) -> dict[str, PollCursor]:
        """The latest cursor per platform (the whole topic, read to its end)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        cursors: dict[str, PollCursor] = {}
        try:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(self.topic) or set()
            if not parts:
                return cursors
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            while pending:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batch.items():
                    for msg in msgs:
                        if msg.key is not None and msg.value is not None:
                            cursors[msg.key.decode()] = PollCursor.from_json(msg.value)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return cursors
        finally:
            await consumer.stop()

    async def save(self, platform: str, cursor: PollCursor) -> None:
        await self.producer.send_and_wait(self.topic, cursor.to_json(), key=platform.encode())


class Poller:
    """Polls sources and publishes what they return; one instance per process."""

    def __init__(self, settings: Settings, bootstrap: str, sources: Mapping[str, Any] | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.raw_topic = Topics.from_settings(settings).raw
        self.sources = dict(sources) if sources is not None else pollable_sources()
        self.producer = new_producer(settings, bootstrap, linger_ms=0, request_timeout_ms=10_000)
        self.store = CursorStore(settings, bootstrap, self.producer)
        self._client = client
        self._own_client = client is None
        self.cursors: dict[str, PollCursor] = {}

    async def start(self) -> None:
        await self.producer.start()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.sink_timeout)
        self.cursors = await self.store.load()

    async def stop(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
        await self.producer.stop()

    async def __aenter__(self) -> "Poller":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll_once(self) -> dict[str, int]:
        """One cycle over every source: events published per platform (-1: the poll failed)."""
        assert self._client is not None, "start() first"
        counts: dict[str, int] = {}
        for name, source in self.sources.items():
            cursor = self.cursors.get(name, PollCursor())
            try:
                batch = await source.poll(self._client, cursor)
            except (SourceError, PipelineError) as exc:
                log.warning("polling %s failed, cursor kept: %s", name, exc)
                counts[name] = -1
                continue
            for record in batch.records:
                key = f"{name}:{record['event_id']}".encode()
                await self.producer.send_and_wait(self.raw_topic, encode("raw_event", record), key=key)
            if batch.cursor != cursor:
                await self.store.save(name, batch.cursor)
                self.cursors[name] = batch.cursor
            counts[name] = len(batch.records)
        return counts

    async def run(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """Poll every *interval* seconds until *stop* is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            counts = await self.poll_once()
            log.info("poll cycle: %s", counts)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
