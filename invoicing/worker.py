"""Run the Faust worker: the stream processors and the sink agents, with /metrics on its own port."""
from __future__ import annotations

import asyncio
import logging
import os

import faust

from invoicing.health import serve_health
from invoicing.broker import ensure_topics, wait_for_broker
from invoicing.settings import Settings

__all__ = ["run_worker"]


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Block running the worker until SIGTERM/SIGINT."""
    from streams.pipeline import Pipeline

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(wait_for_broker(bootstrap))
    topics = loop.run_until_complete(ensure_topics(settings, bootstrap))
    if settings.schema_registry_url:
        from invoicing.schema_registry import register_schemas

        loop.run_until_complete(register_schemas(settings.schema_registry_url, topics))
    from invoicing.token_store import configure_token_store

    configure_token_store(settings.token_store, settings.token_store_key.get_secret_value() if settings.token_store_key else None)
    pipeline = Pipeline(settings, bootstrap)
    if settings.metrics_port:
        serve_health(pipeline.health, settings.metrics_host, settings.metrics_port)
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = faust.Worker(pipeline.app, loop=loop, loglevel=level, quiet=True, override_logging=False)
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
