"""Replaying a dead letter on the real broker: whatever the gateway admitted can be parked and sent back,
up to the largest raw event the settings allow (larger than a Kafka client's default request size)."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from domain.codec import encode
from domain.settings import Settings
from domain.topics import Topics
from infra.broker import ensure_topics, producer
from infra.dead_letters import read_dead_letters, replay
from tests.support import read_topic


async def _park(settings: Settings, bootstrap: str, value: bytes) -> None:
    topics = Topics.from_settings(settings)
    record = {"stage": "normalise", "reason": "the shopify message k1 has no buyer country", "error_type": "str",
              "failed_at": datetime.now(timezone.utc), "topic": topics.raw, "partition": 0, "offset": 7,
              "key": b"k1", "value": value, "platform": "shopify", "target": None, "attempts": 1,
              "retriable": False, "kind": None}
    writer = producer(settings, bootstrap)
    await writer.start()
    try:
        await writer.send_and_wait(topics.dead_letters, encode("dead_letter", record), key=b"k1")
    finally:
        await writer.stop()


async def test_a_dead_letter_at_the_size_limit_is_replayed_whole(bootstrap: str, settings: Settings) -> None:
    await ensure_topics(settings, bootstrap)
    value = os.urandom(settings.max_raw_event_bytes - 1024)
    assert len(value) > 1_048_576, "the case only matters above the Kafka client's default request size"
    await _park(settings, bootstrap, value)

    [parked] = await read_dead_letters(settings, bootstrap)
    assert await replay(settings, bootstrap) == 1

    [sent] = await read_topic(bootstrap, Topics.from_settings(settings).raw, count=1)
    assert sent.value == value and sent.key == b"k1"
    assert dict(sent.headers)["replayed-from"] == parked.position.encode()
    [entry] = await read_dead_letters(settings, bootstrap)
    assert entry.replayed
    assert await replay(settings, bootstrap) == 0, "a dead letter is replayed once"
