"""Reading a whole topic from the beginning, as operator commands and the reference follower do.

The end of each partition is taken from the broker's end offsets, then the reader keeps
fetching until a fetch brings nothing new: some brokers (the embedded one) report the end
too low after multi-record batches, and stopping at the reported end would miss the last
messages (an audit would then report holes that are not there).
"""
from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from domain.audit import InvoiceMessage
from domain.codec import decode
from domain.errors import CodecError, PipelineError

__all__ = ["read_all", "read_invoices", "catch_up"]


async def catch_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition], *, timeout: float = 120.0,
                   settle_ms: int = 300) -> list[Any]:
    """Fetch *tps* (already assigned and positioned) to their end; returns the messages read.

    Raises:
        PipelineError: not at the end within *timeout* seconds.
    """
    ends = await consumer.end_offsets(tps) if tps else {}
    pending = {tp for tp, end in ends.items() if end > await consumer.position(tp)}
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            left = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(pending, key=lambda t: (t.topic, t.partition)))
            raise PipelineError(f"partitions {left} not read to their end within {timeout:g} s")
        batch = await consumer.getmany(timeout_ms=500)
        for tp, msgs in batch.items():
            out.extend(msgs)
            if msgs and msgs[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    while True:  # the reported end may be short of the real one: read until nothing new comes
        batch = await consumer.getmany(timeout_ms=settle_ms)
        if not any(batch.values()):
            return out
        for msgs in batch.values():
            out.extend(msgs)


async def read_all(bootstrap: str, topic: str, *, timeout: float = 120.0, missing_ok: bool = True) -> list[Any]:
    """Every message of *topic* from offset 0 to its end.

    Raises:
        PipelineError: the topic does not exist (unless *missing_ok*), or not read in *timeout*.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public API to refresh metadata
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            if missing_ok:
                return []
            raise PipelineError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        return await catch_up(consumer, tps, timeout=timeout)
    finally:
        await consumer.stop()


async def read_invoices(bootstrap: str, topic: str, *, timeout: float = 120.0) -> list[InvoiceMessage]:
    """Every message of *topic*, from offset 0 to its end.

    Raises:
        PipelineError: the topic does not exist, or could not be read to its end in *timeout*
            (an audit of part of a topic would report holes that are not there).
    """
    return [_message(m) for m in await read_all(bootstrap, topic, timeout=timeout, missing_ok=False)]


def _message(m: Any) -> InvoiceMessage:
    pos = f"{m.partition}:{m.offset}"
    if m.value is None:
        return InvoiceMessage(raw=None, invoice=None, key=m.key, position=pos, error="empty value (tombstone)")
    try:
        return InvoiceMessage(raw=m.value, invoice=decode("invoice", m.value), key=m.key, position=pos)
    except CodecError as exc:
        return InvoiceMessage(raw=m.value, invoice=None, key=m.key, position=pos, error=str(exc))
