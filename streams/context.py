"""What the agents share in one worker: the app, its topics and tables, reference data, sources,
sinks, the series counters, readiness, and the dead-letter topic. `streams.topology` builds it and
binds the agents to it; the agents are module-level functions over it (``p: Context``)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

import httpx
from faust.types import EventT

from domain.codec import encode
from domain.errors import PipelineError
from infra.health import Health
from domain.metrics import DEAD_LETTERS, UNCONFIGURED_TARGET
from domain.reasons import plain_reason
from domain.reference import ReferenceData
from infra.reference_store import ReferenceFollower
from domain.settings import Settings
from domain.topics import Topics
from sinks.base import Sink
from sinks.email import EmailSink
from sinks.registry import SINKS, build_sink
from sources.base import Source
from sources.registry import SOURCES
from streams.app import create_app
from streams.channels import Channels, declare_channels, message_kind
from streams.numbering import NumberingFloor, SeriesCounters
from streams.tables import Tables, declare_tables

__all__ = ["Context", "NO_SELLER"]

NO_SELLER = ("no seller configured: the worker waits and invoices nothing until one is loaded. Write a starter file "
             "with `invoicing init`, fill in the seller, then run `invoicing reference load FILE`")

log = logging.getLogger("streams.worker")


class Context:
    """Everything the agents share. `streams.topology.build` makes one and binds the agents."""

    def __init__(self, settings: Settings, bootstrap: str, health: Health | None = None,
                 epoch: str | None = None) -> None:
        """*health*: the readiness checks to report into (the worker keeps one across restarts after a broker
        lost its topics); its ``broker`` check is the worker's `infra.broker.BrokerWatch`. *epoch*: the
        broker's epoch marker at start (`streams.numbering.NumberingFloor`)."""
        self.settings = settings
        self.bootstrap = bootstrap
        self.topics = Topics.from_settings(settings)
        self.app = create_app(settings, bootstrap)
        self.channels: Channels = declare_channels(self.app, self.topics)
        self.tables: Tables = declare_tables(self.app)
        self.reference = ReferenceData()
        self.follower = ReferenceFollower(settings, bootstrap, self.reference)
        self.sources: dict[str, Source] = {name: cls() for name, cls in SOURCES.items()}
        self._sinks: dict[str, Sink] = {}
        self.http: httpx.AsyncClient | None = None
        self._ready_lock = asyncio.Lock()
        self.health = health if health is not None else Health("reference_data", "seller", "broker")
        self._seller_logged: float | None = None
        self._started = False
        floor = NumberingFloor(Path(settings.data_dir) / "numbering" / f"{settings.app_id}.json", epoch)
        self.numbering = SeriesCounters(self.tables.issued, floor).install(self.app)
        #: customers whose recently closed cycles were sent again since this worker started (streams.cycles)
        self.resent_after_start: set[str] = set()

    # -- lifecycle ------------------------------------------------------------
    async def ready(self) -> None:
        """Wait for reference data with a seller (called by every agent before its first event): a worker
        with no seller consumes nothing, says so in its log and its readiness, and starts once one arrives."""
        async with self._ready_lock:
            if not self._started:
                self.http = httpx.AsyncClient(timeout=self.settings.sink_timeout)
                await self.follower.start()
                self._started = True
                self.health.ok("reference_data")
        await self.follower.ready.wait()
        while not self.reference.sellers:
            now = asyncio.get_running_loop().time()
            if self._seller_logged is None or now - self._seller_logged >= self.settings.seller_wait_log_interval:
                self._seller_logged = now  # one line for all the agents waiting
                self.health.fail("seller", NO_SELLER)
                log.warning("%s", NO_SELLER)
            await asyncio.sleep(0.5)
        if self.health.problem("seller"):
            self.health.ok("seller")
            if self._seller_logged is not None:
                log.warning("a seller is configured now (%s): invoicing starts", ", ".join(sorted(self.reference.sellers)))

    def sink(self, target: str) -> Sink:
        """The sink for *target*, created once per worker (the configured ones were checked at start,
        `streams.preflight`). A target the reference data routes to that is not configured is counted
        in ``invoicing_unconfigured_target_deliveries_total`` and its delivery parked with the reason.

        Raises:
            PipelineError: unknown target; ConfigError: not configured (the variables named).
        """
        if target not in self._sinks:
            assert self.http is not None, "ready() creates the HTTP client before any delivery"
            try:
                sink = build_sink(target, self.http, self.settings)
            except PipelineError:
                UNCONFIGURED_TARGET.labels(target if target in SINKS else "unknown").inc()
                raise
            if isinstance(sink, EmailSink):
                sink.reference = self.reference  # the e-mail sink reads the customer's e-invoice format
            self._sinks[target] = sink
        return self._sinks[target]

    # -- dead letters ---------------------------------------------------------
    async def dead_letter(self, event: EventT[Any], *, stage: str, error: BaseException | str, replay_topic: str | None = None,
                          platform: str | None = None, target: str | None = None, value: bytes | None = None,
                          key: bytes | None = None, retriable: bool = False, attempts: int = 1,
                          kind: str | None = None) -> None:
        """Park *event* (or *value*) on the dead-letter topic with the reason. The event's ``kind`` header
        (or *kind*) is kept, so that a replayed command is the same command again."""
        msg = event.message
        if kind is None and value is None:
            kind = message_kind(event)
        if isinstance(error, str):
            reason = error
        else:
            subject = (key if key is not None else msg.key or b"").decode("utf-8", "replace")
            reason = plain_reason(error, what=f"the {platform + ' ' if platform else ''}message {subject}")
        record = {
            "stage": stage,
            "reason": reason[:2000],
            "error_type": "str" if isinstance(error, str) else type(error).__name__,
            "failed_at": datetime.now(timezone.utc),
            "topic": replay_topic or msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": key if key is not None else msg.key,
            "value": value if value is not None else msg.value,
            "platform": platform,
            "target": target,
            "attempts": attempts,
            "retriable": retriable,
            "kind": kind,
        }
        DEAD_LETTERS.labels(stage.split(":")[0]).inc()
        log.warning("dead letter at %s: %s", stage, reason)
        await self.channels.dead_letters.send(key=record["key"], value=encode("dead_letter", record))
