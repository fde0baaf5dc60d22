"""Reference data on compacted topics: `publish_reference` writes them, `ReferenceFollower`
reads them whole into a `ReferenceData` and follows later updates.

(A Faust GlobalTable would be the obvious tool; on the embedded broker its
partition assignment never completes, so the worker reads these topics with a
plain group-less consumer instead.)
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.broker import producer as new_producer
from infra.kafka_read import catch_up
from domain.reference import ReferenceData, load_reference_file
from domain.settings import Settings
from domain.topics import Topics

__all__ = ["publish_reference", "ReferenceFollower"]

log = logging.getLogger("infra.reference_store")

KINDS = ("customers", "products", "sellers")


async def publish_reference(settings: Settings, bootstrap: str, path: str | Path) -> dict[str, int]:
    """Load *path* onto the reference topics. Returns counts per kind.

    Raises:
        ConfigError: the file is invalid (nothing is written then).
    """
    records = load_reference_file(path)
    topics = Topics.from_settings(settings)
    producer = new_producer(settings, bootstrap)
    await producer.start()
    counts: dict[str, int] = {}
    try:
        for kind, key, value in records:
            await producer.send(getattr(topics, kind), json.dumps(value).encode(), key=key.encode())
            counts[kind] = counts.get(kind, 0) + 1
        await producer.flush()
    finally:
        await producer.stop()
    return counts


class ReferenceFollower:
    """Reads the reference topics from the beginning; `ready` is set once caught up."""

    def __init__(self, settings: Settings, bootstrap: str, data: ReferenceData | None = None) -> None:
        self.topics = Topics.from_settings(settings)
        self.bootstrap = bootstrap
        self.data = data if data is not None else ReferenceData()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._kind_of = {getattr(self.topics, k): k for k in KINDS}

    async def start(self, *, follow: bool = True) -> None:
        """Read the reference topics up to their end (`ready` set), then keep following them unless *follow* is False."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        self._consumer = consumer
        parts = []
        for name in self._kind_of:
            for p in sorted(await _partitions(consumer, name)):
                parts.append(TopicPartition(name, p))
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        for m in await catch_up(consumer, parts):
            self._apply(m.topic, m.key, m.value)
        self.ready.set()
        if not follow:
            return
        log.info("reference data loaded: %d sellers, %d customers, %d products", len(self.data.sellers),
                 len(self.data.customers), len(self.data.products))
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        assert self._consumer is not None
        try:
            async for m in self._consumer:
                self._apply(m.topic, m.key, m.value)
        except asyncio.CancelledError:
            pass

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            doc: Any = json.loads(value) if value else None
            self.data.apply(self._kind_of[topic], key.decode(), doc)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            log.error("bad reference record %s/%s: %s", topic, key, exc)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public API for this
        await asyncio.sleep(0.05)
    return set()
