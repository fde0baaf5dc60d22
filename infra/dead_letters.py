"""The dead-letter topic: what is parked, and replaying it.

Every dead letter names the topic to replay into (raw events for normalise and
fetch failures, the redeliver topic for deliveries). Replaying sends the
original bytes back there and records the dead letter's position on the
compacted ``dead-letters.replayed`` topic, so a second replay does not send it twice.
The operator commands are `invoicing.dlq`; the worker's gauge of pending dead letters and the
console read it here too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

from domain.codec import decode
from domain.errors import CodecError
from domain.settings import Settings
from domain.topics import Topics
from infra.broker import producer as new_producer
from infra.kafka_read import read_all

__all__ = ["DeadLetterEntry", "matches", "read_dead_letters", "replay"]


@dataclass(frozen=True)
class DeadLetterEntry:
    position: str
    record: dict[str, Any]
    replayed: bool


async def read_dead_letters(settings: Settings, bootstrap: str) -> list[DeadLetterEntry]:
    topics = Topics.from_settings(settings)
    replayed = {m.key.decode() for m in await read_all(bootstrap, topics.dlq_replayed) if m.key and m.value}
    entries = []
    for m in await read_all(bootstrap, topics.dead_letters):
        pos = f"{m.partition}:{m.offset}"
        try:
            rec = decode("dead_letter", m.value)
        except CodecError as exc:
            rec = {"stage": "?", "reason": f"undecodable dead letter: {exc}", "topic": "", "value": b"", "key": None}
        entries.append(DeadLetterEntry(pos, rec, pos in replayed))
    return entries


def matches(rec: dict[str, Any], stage: str | None, target: str | None) -> bool:
    if stage and not str(rec.get("stage", "")).startswith(stage):
        return False
    if target and rec.get("target") != target:
        return False
    return True


async def replay(settings: Settings, bootstrap: str, *, stage: str | None = None, target: str | None = None,
                 positions: Collection[str] | None = None) -> int:
    """Send matching, not yet replayed dead letters back to their topics (only those at *positions*,
    ``"partition:offset"``, when given). Returns how many."""
    topics = Topics.from_settings(settings)
    entries = [e for e in await read_dead_letters(settings, bootstrap)
               if not e.replayed and e.record.get("topic") and matches(e.record, stage, target)
               and (positions is None or e.position in positions)]
    if not entries:
        return 0
    producer = new_producer(settings, bootstrap)
    await producer.start()
    try:
        for e in entries:
            rec = e.record
            headers = [("target", rec["target"].encode())] if rec.get("target") else []
            if rec.get("kind"):
                headers.append(("kind", rec["kind"].encode()))
            headers.append(("replayed-from", e.position.encode()))
            await producer.send_and_wait(rec["topic"], rec["value"], key=rec.get("key"), headers=headers)
            await producer.send_and_wait(topics.dlq_replayed, b"1", key=e.position.encode())
    finally:
        await producer.stop()
    return len(entries)
