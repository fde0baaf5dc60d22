"""The dead-letter topic: list what is parked, and replay it.

Every dead letter names the topic to replay into (raw events for normalise and
fetch failures, the redeliver topic for deliveries). Replaying sends the
original bytes back there and records the dead letter's position on the
compacted ``dead-letters.replayed`` topic, so a second replay does not send it twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Collection

from aiokafka import AIOKafkaProducer

from invoicing.codec import decode
from invoicing.errors import CodecError
from invoicing.jsonify import to_jsonable
from invoicing.kafka_read import read_all
from invoicing.settings import Settings
from invoicing.topics import Topics

__all__ = ["DeadLetterEntry", "read_dead_letters", "replay", "list_command", "replay_command"]


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


def _matches(rec: dict[str, Any], stage: str | None, target: str | None) -> bool:
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
               if not e.replayed and e.record.get("topic") and _matches(e.record, stage, target)
               and (positions is None or e.position in positions)]
    if not entries:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
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


async def list_command(settings: Settings, bootstrap: str, *, as_json: bool, stage: str | None, target: str | None) -> int:
    entries = [e for e in await read_dead_letters(settings, bootstrap) if _matches(e.record, stage, target)]
    if as_json:
        rows = [{"position": e.position, "replayed": e.replayed,
                 **{k: v for k, v in to_jsonable(e.record).items() if k not in ("value",)}} for e in entries]
        print(json.dumps(rows, indent=2))
        return 0
    if not entries:
        print("no dead letters")
        return 0
    for e in entries:
        r = e.record
        where = r.get("target") or r.get("platform") or ""
        print(f"{e.position:>8}  {'replayed' if e.replayed else 'pending ':8}  {r.get('stage', ''):<18} {where:<14} {r.get('reason', '')}")
    return 0


async def replay_command(settings: Settings, bootstrap: str, *, stage: str | None, target: str | None) -> int:
    n = await replay(settings, bootstrap, stage=stage, target=target)
    print(f"replayed {n} dead letter(s)")
    return 0
