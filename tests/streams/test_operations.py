"""What the worker measures about itself beside its agents (streams.operations): the ``producer`` readiness
check (a Faust sensor, and a probe while it fails), the consumer group's topics, and the measuring loop."""
from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from domain.settings import Settings
from domain.topics import Topics
from infra.dead_letters import read_dead_letters
from infra.health import Health
from streams.operations import PROBE_KEY, ProducerHealth, agent_topics, probe_producer, watch_operations
from streams.topology import build
from tests.support import unique_settings


class FaustLikeProducer:
    """Faust's ``Producer.send_and_wait`` signature over a real aiokafka producer; counts the probes."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.sent: list[tuple[str, bytes | None]] = []

    async def send_and_wait(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None,
                            timestamp: float | None, headers: object) -> object:
        self.sent.append((topic, key))
        return await self.producer.send_and_wait(topic, value, key=key, partition=partition)


def _context(settings: Settings, bootstrap: str, health: Health, producer: Any) -> Any:
    """As much of a `streams.context.Context` as the measuring loop reads: no agent, so no lag to measure."""
    return SimpleNamespace(settings=settings, bootstrap=bootstrap, health=health, topics=Topics.from_settings(settings),
                           app=SimpleNamespace(producer=producer, agents={}))


def test_the_producer_check_fails_on_an_unacknowledged_record_and_passes_on_the_next() -> None:
    health = Health("broker")
    health.ok("broker")
    sensor = ProducerHealth(health)
    assert health.report()[0]
    sensor.on_send_error(None, TimeoutError(), None)
    ready, body = health.report()
    assert not ready and "did not acknowledge" in body["checks"]["producer"]
    sensor.on_send_completed(None, None, None)
    assert health.report()[0]


def test_the_lag_is_measured_on_every_topic_the_worker_s_agents_read(tmp_path: Path) -> None:
    settings = unique_settings(tmp_path)
    topics = Topics.from_settings(settings)
    assert agent_topics(build(settings, "127.0.0.1:1").app) == sorted(
        [topics.raw, topics.orders, topics.cycle_orders, topics.issue, topics.invoices, topics.redeliver, topics.receipts])
    sinks_only = unique_settings(tmp_path, agents=["deliver"])
    only = Topics.from_settings(sinks_only)
    assert agent_topics(build(sinks_only, "127.0.0.1:1").app) == sorted([only.invoices, only.redeliver])


async def test_an_idle_worker_s_producer_check_recovers_through_the_probe(bootstrap: str, topics_ready: Settings) -> None:
    """No agent sends while nothing arrives: the probe (a tombstone on the dead-letters.replayed topic) does."""
    settings = topics_ready
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        health = Health("broker")
        health.ok("broker")
        ProducerHealth(health).on_send_error(None, TimeoutError(), None)
        await probe_producer(_context(settings, bootstrap, health, FaustLikeProducer(producer)))
        assert health.report()[0]
    finally:
        await producer.stop()
    assert await read_dead_letters(settings, bootstrap) == [], "the probe is no dead letter"


class CountedRounds:
    """Stands in for `infra.dead_letter_gauge.PendingDeadLetters` (tested on the broker in tests/infra), counting rounds."""

    rounds = 0

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        pass

    async def update(self) -> dict[tuple[str, str], int]:
        CountedRounds.rounds += 1
        return {}


async def _rounds(n: int) -> None:
    """Wait until the measuring loop has done *n* more rounds."""
    until = CountedRounds.rounds + n
    for _ in range(200):
        if CountedRounds.rounds >= until:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the measuring loop stopped")


async def test_the_loop_probes_only_while_the_broker_check_passes(bootstrap: str, topics_ready: Settings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.operations.PendingDeadLetters", CountedRounds)
    settings = topics_ready.model_copy(update={"ops_check_interval": 0.05})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    faust_like = FaustLikeProducer(producer)
    health = Health("broker")  # failing: "not checked yet"
    ProducerHealth(health).on_send_error(None, TimeoutError(), None)
    loop = asyncio.ensure_future(watch_operations(_context(settings, bootstrap, health, faust_like)))
    try:
        await _rounds(3)
        assert faust_like.sent == [], "the broker check fails: the producer is not probed"
        assert health.problem("producer")
        health.ok("broker")
        await _rounds(2)
        assert not health.problem("producer") and health.report()[0]
        assert faust_like.sent == [(settings.topic("invoicing.dead-letters.replayed"), PROBE_KEY)]
        await _rounds(3)
        assert len(faust_like.sent) == 1, "a passing check is not probed"
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await producer.stop()
