"""Run the Faust worker: the stream processors and the sink agents, with /metrics on its own port.

The worker watches the broker (`infra.broker.BrokerWatch`). When the broker has lost the
pipeline's topics (the embedded broker restarted empty, or a topic was deleted), it logs one
error, fails its ``broker`` readiness check, counts ``invoicing_broker_topics_lost_total``,
recreates the topics, and restarts its stream processors in the same process on them (positions,
group membership and Faust's own topics start afresh); readiness passes again once they consume.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import faust

from infra.broker import BROKER_TOPICS_LOST, BrokerWatch, ensure_topics, read_epoch, wait_for_broker
from infra.health import Health, serve_health
from streams.operations import ProducerHealth, watch_operations
from streams.preflight import check_targets
from domain.logsafe import configure_logging
from domain.settings import Settings

__all__ = ["run_worker"]

log = logging.getLogger("streams.worker")


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Block running the worker until SIGTERM/SIGINT."""
    from infra.token_store import configure_token_store

    level = settings.log_level.upper()
    configure_logging(level, settings.log_format)
    configure_token_store(settings.token_store, settings.token_store_key.get_secret_value() if settings.token_store_key else None)
    health = Health("reference_data", "seller", "broker")
    if settings.metrics_port:
        serve_health(health, settings.metrics_host, settings.metrics_port)
    while _run_once(settings, bootstrap, health, level):
        log.warning("stream processors restarting on the recreated topics")


def _run_once(settings: Settings, bootstrap: str, health: Health, level: str) -> bool:
    """Run the Faust worker until it stops; True when it stopped because the broker lost the topics."""
    from streams.topology import build

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(wait_for_broker(bootstrap))
    topics = loop.run_until_complete(ensure_topics(settings, bootstrap))
    loop.run_until_complete(check_targets(settings, bootstrap))  # credentials and tax mappings, or no start
    epoch = loop.run_until_complete(read_epoch(settings, bootstrap))
    if settings.schema_registry_url:
        from infra.schema_registry import register_schemas

        loop.run_until_complete(register_schemas(settings.schema_registry_url, topics))
    pipeline = build(settings, bootstrap, health=health, epoch=epoch)
    pipeline.app.sensors.add(ProducerHealth(health))
    loop.create_task(watch_operations(pipeline))  # consumer lag, dead letters pending, the producer probe
    worker = faust.Worker(pipeline.app, loop=loop, loglevel=level, quiet=True, override_logging=False)
    if settings.log_format == "json":
        worker.spinner = None  # its terminal escapes would start a log line: JSON lines carry nothing else
    lost = {"restart": False}
    loop.create_task(_watch_broker(pipeline, BrokerWatch(settings, bootstrap, epoch), lost))
    try:
        _execute(worker)
    except SystemExit:
        if not lost["restart"]:
            raise
    return lost["restart"]


def _execute(worker: faust.Worker) -> None:
    profile_path = os.environ.get("INVOICING_PROFILE")
    if not profile_path:
        worker.execute_from_commandline()
        return
    import cProfile  # developer aid: INVOICING_PROFILE=FILE writes cProfile stats at exit

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        worker.execute_from_commandline()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


def _consuming(pipeline: Any) -> bool:
    try:
        return bool(pipeline.app.consumer.assignment())
    except Exception:  # noqa: BLE001 - not started yet
        return False


async def _watch_broker(pipeline: Any, watch: BrokerWatch, lost: dict[str, bool]) -> None:
    """Check the broker every ``broker_check_interval`` seconds; on a lost topic set, recreate it and stop the
    Faust worker for `run_worker` to start it again."""
    settings: Settings = pipeline.settings
    while True:
        await asyncio.sleep(settings.broker_check_interval)
        problem = await watch.check()
        if problem is None:
            if _consuming(pipeline):
                pipeline.health.ok("broker")
            else:
                pipeline.health.fail("broker", "the stream processors have no partitions assigned yet")
            continue
        pipeline.health.fail("broker", problem)
        if not watch.lost:
            continue  # unreachable: the clients reconnect; a broker that comes back empty is found by the next check
        BROKER_TOPICS_LOST.inc()
        log.error("%s. Events it held that were not processed are gone with it, and so is the reference data "
                  "(load it again with `invoicing reference load`). The worker recreates the topics and restarts its "
                  "stream processors; the gateway answers 503 until the topics are back.", problem)
        try:
            await ensure_topics(settings, pipeline.bootstrap)
        except Exception as exc:  # noqa: BLE001 - the restart waits for the broker and tries again
            log.warning("topics not recreated yet (%s); the restart will", type(exc).__name__)
        lost["restart"] = True
        os.kill(os.getpid(), signal.SIGTERM)  # the Faust worker's own shutdown; `run_worker` starts it again
        return
