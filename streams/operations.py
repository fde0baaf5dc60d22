"""What the worker measures about itself for the SRE view, beside the stream processors.

* `ProducerHealth`: a Faust sensor (Faust's public hook for producer events) that fails the worker's
  ``producer`` readiness check when the broker does not acknowledge a record the agents sent, and
  passes it again on the next acknowledged one. While it fails and the broker check passes (the
  broker answers and holds the topics), `watch_operations` probes the producer every round with a
  tombstone on the compacted dead-letters.replayed bookkeeping topic (a key that never names a dead
  letter: `invoicing dlq` ignores it), so an idle worker recovers too.
* `watch_operations`: every ``ops_check_interval`` seconds, consumer lag of the worker's group on
  the topics its agents read (`infra.lag`) and dead letters pending (`infra.dead_letter_gauge`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from infra.dead_letter_gauge import PendingDeadLetters
from infra.health import Health
from infra.lag import LagGauge
from streams.context import Context

__all__ = ["ProducerHealth", "agent_topics", "probe_producer", "watch_operations", "PROBE_KEY"]

log = logging.getLogger("streams.worker")

PROBE_KEY = b"producer-probe"


class ProducerHealth(faust.Sensor):
    """The ``producer`` readiness check from the outcome of every record the app sends."""

    def __init__(self, health: Health, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.health = health
        health.ok("producer")

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        if self.health.problem("producer"):
            self.health.ok("producer")

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.health.fail("producer", f"the broker did not acknowledge a record the worker sent ({type(exc).__name__})")


def agent_topics(app: faust.App) -> list[str]:
    """The topics the app's agents read (the consumer group's topics)."""
    return sorted({name for agent in app.agents.values() for name in agent.channel.topics})


async def probe_producer(p: Context) -> None:
    """Send the probe tombstone through the app's producer; the ``producer`` check says whether it was acknowledged."""
    try:
        await p.app.producer.send_and_wait(p.topics.dlq_replayed, PROBE_KEY, None, None, None, None)
    except Exception as exc:  # noqa: BLE001 - still failing; said in the check
        p.health.fail("producer", f"the broker does not acknowledge the worker's records ({type(exc).__name__})")
    else:
        p.health.ok("producer")


async def watch_operations(p: Context) -> None:
    """Measure lag and pending dead letters until cancelled; a failed measurement is logged once per streak."""
    settings = p.settings
    lag = LagGauge(p.bootstrap, settings.app_id, agent_topics(p.app))
    pending = PendingDeadLetters(settings, p.bootstrap)
    failing: set[str] = set()
    while True:
        await asyncio.sleep(settings.ops_check_interval)
        if p.health.problem("producer") and not p.health.problem("broker"):
            await probe_producer(p)  # the broker answers and holds the topics: does it take our records?
        for name, step in (("consumer lag", lag.update), ("dead letters pending", pending.update)):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - measured again next round
                if name not in failing:
                    log.warning("%s not measured (%s); trying again every %g s", name, type(exc).__name__,
                                settings.ops_check_interval)
                failing.add(name)
            else:
                failing.discard(name)
