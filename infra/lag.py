"""Consumer lag per (group, topic, partition): the end offset minus the group's committed offset.

Measured from outside the stream processors, the way `kafka-consumer-groups --describe` does it:
the committed offsets come from the group coordinator (aiokafka's admin client, OffsetFetch), the
end offsets from a consumer without a group (ListOffsets, then one fetch of each partition's last
record: the high watermark in a fetch response is the one the embedded broker gets right, its
ListOffsets answer is one past the first offset of the last record batch, too low after
multi-record batches). The topics are those the worker's agents read. A partition the group has not
committed on yet counts from the partition's first offset (the group starts there: ``earliest``).
Lag is never shown below 0. Every
worker of a group reports the whole group, so dashboards and alerts take ``max by (group, topic,
partition)`` before summing.
"""
from __future__ import annotations

from typing import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from domain.metrics import CONSUMER_LAG

__all__ = ["measure_lag", "LagGauge"]


async def measure_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Lag of *group* on every partition of those *topics* that exist (a topic is never created here).

    Raises:
        aiokafka's errors when the broker does not answer (the caller tries again on its next round).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=100, max_partition_fetch_bytes=1)  # one record batch per partition
    await admin.start()
    try:
        await consumer.start()
        existing = set(await admin.list_topics()) & set(topics)
        if not existing:
            return {}
        wanted = sorted(TopicPartition(t["topic"], part["partition"])
                        for t in await admin.describe_topics(sorted(existing)) if not t.get("error_code")
                        for part in t["partitions"])
        # partitions named: the broker's answer for "every partition of the group" is not read by every
        # client/broker pair (the embedded one), and -1 says "nothing committed" for the named ones
        committed = {tp: meta.offset for tp, meta in
                     (await admin.list_consumer_group_offsets(group, partitions=wanted)).items()
                     if meta is not None and meta.offset >= 0}
        ends = await _true_ends(consumer, wanted)
        starts = await consumer.beginning_offsets([tp for tp in wanted if tp not in committed])
        return {(tp.topic, tp.partition): max(0, end - committed.get(tp, starts.get(tp, 0)))
                for tp, end in ends.items()}
    finally:
        await consumer.stop()
        await admin.close()


async def _true_ends(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """One past the last offset of each partition in *tps*: the ListOffsets answer, raised to the high watermark
    of a fetch from just before it (one fetch request per broker; a partition whose fetch did not answer
    within the wait keeps the ListOffsets figure)."""
    ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(tps))
    if not tps:
        return ends
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - 1))
    await consumer.getmany(*tps, timeout_ms=500, max_records=len(tps))
    for tp in tps:
        fetched = consumer.highwater(tp)
        if fetched is not None and fetched > ends[tp]:
            ends[tp] = fetched
    return ends


class LagGauge:
    """Sets ``invoicing_consumer_lag_messages`` from `measure_lag`, dropping partitions no longer measured."""

    def __init__(self, bootstrap: str, group: str, topics: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = sorted(set(topics))
        self._shown: set[tuple[str, int]] = set()

    async def update(self) -> dict[tuple[str, int], int]:
        lag = await measure_lag(self.bootstrap, self.group, self.topics)
        for topic, partition in self._shown - set(lag):
            CONSUMER_LAG.remove(self.group, topic, str(partition))
        for (topic, partition), value in lag.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(value)
        self._shown = set(lag)
        return lag
