"""The topics the agents read and write, declared on the app with raw bytes (our Avro codec does the rest)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.types import TopicT

from domain.topics import Topics

__all__ = ["Channels", "declare_channels", "partition_of", "message_kind"]


@dataclass(frozen=True)
class Channels:
    raw: TopicT
    orders: TopicT
    issue: TopicT
    invoices: TopicT
    deliver_in: TopicT
    receipts: TopicT
    cycle_orders: TopicT
    dead_letters: TopicT


def _raw(app: faust.App, *names: str) -> TopicT:
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def declare_channels(app: faust.App, topics: Topics) -> Channels:
    return Channels(
        raw=_raw(app, topics.raw),
        orders=_raw(app, topics.orders),
        issue=_raw(app, topics.issue),
        invoices=_raw(app, topics.invoices),
        deliver_in=_raw(app, topics.invoices, topics.redeliver),
        receipts=_raw(app, topics.receipts),
        cycle_orders=_raw(app, topics.cycle_orders),
        dead_letters=_raw(app, topics.dead_letters),
    )


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives *key*: commands sent to every
    partition act only on the table keys that live in their own partition."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def message_kind(event: Any) -> str | None:
    """The ``kind`` header of *event* (a command such as close, cancel, credit, sweep), or None."""
    kind = (event.headers or {}).get("kind")
    return kind.decode() if isinstance(kind, bytes) else kind
