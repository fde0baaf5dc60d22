"""What the worker measures for the SRE view, each on the real broker: consumer lag per (group, topic,
partition) (infra.lag) and dead letters pending by stage and target (infra.dead_letter_gauge)."""
from __future__ import annotations

from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from domain.codec import encode
from domain.metrics import CONSUMER_LAG, DEAD_LETTERS_PENDING
from domain.settings import Settings
from domain.topics import Topics
from infra.dead_letter_gauge import PendingDeadLetters
from infra.lag import LagGauge, measure_lag


async def _produce(bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _gauge(metric: object, *labels: str) -> float | None:
    """The exported value of *metric* for *labels*, None when the series is not exported."""
    for fam in metric.collect():  # type: ignore[attr-defined]
        for sample in fam.samples:
            if tuple(sample.labels.values()) == labels:
                return float(sample.value)
    return None


async def test_lag_is_end_offset_minus_committed_offset_per_partition(bootstrap: str, topics_ready: Settings) -> None:
    settings = topics_ready
    raw, orders = settings.topic("invoicing.raw-events"), settings.topic("invoicing.orders")
    await _produce(bootstrap, raw, [b"%d" % i for i in range(5)])
    await _produce(bootstrap, orders, [b"x", b"y"])
    group = f"{settings.app_id}-lag"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(raw, 0)])
        await consumer.commit({TopicPartition(raw, 0): OffsetAndMetadata(2, "")})
    finally:
        await consumer.stop()
    missing = settings.topic("never-created")
    lag = await measure_lag(bootstrap, group, [raw, orders, missing])
    assert lag == {(raw, 0): 3, (raw, 1): 0, (orders, 0): 2, (orders, 1): 0}, "nothing committed: from the start"
    assert missing not in await _topics(bootstrap), "measuring never creates a topic"

    gauge = LagGauge(bootstrap, group, [raw, orders])
    await gauge.update()
    assert _gauge(CONSUMER_LAG, group, raw, "0") == 3 and _gauge(CONSUMER_LAG, group, orders, "0") == 2
    gauge.topics = [raw]  # a topic no longer read: its partitions are no longer exported
    await gauge.update()
    assert _gauge(CONSUMER_LAG, group, orders, "0") is None and _gauge(CONSUMER_LAG, group, raw, "0") == 3


async def test_lag_counts_every_record_of_a_multi_record_batch(bootstrap: str, topics_ready: Settings) -> None:
    """The embedded broker answers ListOffsets with one past the first offset of the last record batch; lag is
    measured to the high watermark of a fetch, so 40 records sent in one batch are 40 records of lag."""
    settings = topics_ready
    raw = settings.topic("invoicing.raw-events")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(raw, b"%d" % i, partition=0) for i in range(40)]
        await producer.flush()
        assert len({(await s).offset for s in sent}) == 40
    finally:
        await producer.stop()
    group = f"{settings.app_id}-batched"
    assert await measure_lag(bootstrap, group, [raw]) == {(raw, 0): 40, (raw, 1): 0}


async def test_dead_letters_pending_by_stage_and_target_until_replayed(bootstrap: str, topics_ready: Settings) -> None:
    settings = topics_ready
    topics = Topics.from_settings(settings)
    letter = {"stage": "deliver:xero", "reason": "xero said 400", "error_type": "str", "failed_at": datetime.now(timezone.utc),
              "topic": topics.redeliver, "partition": 0, "offset": 7, "key": b"inv-1", "value": b"{}", "platform": None,
              "target": "xero", "attempts": 5, "retriable": False, "kind": None}
    await _produce(bootstrap, topics.dead_letters, [encode("dead_letter", letter),
                                                     encode("dead_letter", {**letter, "stage": "bill", "target": None})])
    pending = PendingDeadLetters(settings, bootstrap)
    assert await pending.update() == {("deliver", "xero"): 1, ("bill", ""): 1}
    assert _gauge(DEAD_LETTERS_PENDING, "deliver", "xero") == 1
    await _produce(bootstrap, topics.dlq_replayed, [b"1"], key=b"0:0")  # what `invoicing dlq replay` records
    assert await pending.update() == {("bill", ""): 1}
    assert _gauge(DEAD_LETTERS_PENDING, "deliver", "xero") == 0, "replayed: back to 0"
    assert _gauge(DEAD_LETTERS_PENDING, "bill", "") == 1
