"""The Faust App, and nothing else."""
from __future__ import annotations

import faust

from domain.settings import Settings
from streams import faust_patches
from streams.acking import OffsetGuard

__all__ = ["create_app"]


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    """One Faust app per worker process.

    Agent concurrency stays 1 (MISSION.md: higher concurrency can commit past an
    event still in flight). The web server is off: /metrics is served by
    prometheus_client on its own port, and Faust's /table views are never exposed.
    """
    timeout = settings.rebalance_timeout
    faust_patches.set_fetch_max_wait_ms(settings.fetch_max_wait_ms)
    faust_patches.check_internals()  # fails naming the attribute after an upgrade that removed one
    faust_patches.apply()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{b.strip()}" for b in bootstrap.split(",")],
        store=settings.store,
        datadir=str(settings.data_dir),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger_ms=settings.linger_ms,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        # every raw event the gateway accepted can be read, and parked on the dead-letter topic with its reason
        producer_max_request_size=settings.max_message_bytes,
        consumer_max_fetch_size=settings.max_message_bytes,
        broker_rebalance_timeout=timeout,
        broker_session_timeout=timeout,
        broker_heartbeat_interval=max(0.5, timeout / 10),
        broker_commit_interval=1.0,
        table_cleanup_interval=3600.0,
        stream_wait_empty=False,
        recovery_consistency_check=settings.recovery_consistency_check,
        logging_config=None,
    )
    # records reach every agent once, in order, without holes; the stateful agents finish the event in hand
    # before their partitions move (streams/acking.py)
    OffsetGuard.install(app, wait_on=("bill", "cycles", "issue"), wait_at_most=min(5.0, timeout / 3))
    return app
