"""Pollers for platforms without webhooks (Wave), or with unreliable ones (WooCommerce, Odoo, as an
option), with a cursor that survives restarts.

Every registered source whose ``transport`` is ``"poll"`` (or ``"both"`` with its
``INVOICING_<PLATFORM>_POLL=true`` setting) and that has an ``async poll(client, cursor)``
method is polled. A poll returns a `PollBatch`: raw-event records, built exactly as the
gateway builds them (`raw_event_from_poll`), and the advanced `PollCursor`.

Each cycle publishes the batch to the raw-events topic (key ``platform:event_id``, acks=all)
and only then stores the cursor on the compacted ``invoicing.poll-cursors`` topic, keyed by
platform. A crash between the two re-publishes the batch after a restart: delivery is
at-least-once, and the worker's event-level dedup (same event id) drops the repeats.
Nothing is missed: the cursor never moves past an event that is not on the broker.

The cursor is the largest modification time seen plus the ids seen at exactly that
instant, so items sharing the watermark are neither lost nor repeated.

Platforms whose modification stamp is not the commit time (Odoo's ``write_date`` is the
transaction's start) also keep the ``(id, time)`` pairs seen inside an overlap window below the
watermark (`PollCursor.is_new_within` / `advance_within`): each query re-reads the window, and a
change that became visible late with a stamp inside the window is still new, while what was seen
is not repeated. `poll_keyset` is that loop for REST-style list endpoints (WooCommerce, Odoo),
and `PollOptions` the settings it reads (``INVOICING_<PLATFORM>_POLL``, ``_POLL_PAGE_SIZE``, ...).
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import Field

from invoicing.codec import encode
from invoicing.errors import IgnoredEvent, PayloadError, PipelineError, SourceError
from invoicing.settings import PlatformSettings, Settings
from invoicing.topics import Topics

__all__ = ["PollCursor", "PollBatch", "PollOptions", "CursorStore", "Poller", "pollable_sources", "raw_event_from_poll",
           "poll_keyset"]

log = logging.getLogger("invoicing.poller")


@dataclass(frozen=True)
class PollCursor:
    """Where a platform's poll stands: the watermark and the ids seen at that instant."""

    watermark: datetime | None = None
    seen: frozenset[str] = frozenset()
    #: ``(id, modification time)`` pairs seen inside the overlap window below the watermark
    recent: frozenset[tuple[str, str]] = frozenset()

    def is_new(self, at: datetime, item_id: str) -> bool:
        if self.watermark is None or at > self.watermark:
            return True
        return at == self.watermark and item_id not in self.seen

    def advance(self, at: datetime, item_id: str) -> "PollCursor":
        if self.watermark is None or at > self.watermark:
            return PollCursor(at, frozenset({item_id}), self.recent)
        if at == self.watermark:
            return PollCursor(at, self.seen | {item_id}, self.recent)
        return self

    def is_new_within(self, at: datetime, item_id: str, overlap: timedelta) -> bool:
        """New unless older than the window, or this id was seen with this very time."""
        if self.watermark is None or at > self.watermark:
            return True
        if at < self.watermark - overlap:
            return False
        if at == self.watermark and item_id in self.seen:
            return False
        return (item_id, _stamp(at)) not in self.recent

    def advance_within(self, at: datetime, item_id: str, overlap: timedelta) -> "PollCursor":
        """`advance`, keeping the ``(id, time)`` pairs that are still inside the window."""
        moved = self.advance(at, item_id)
        assert moved.watermark is not None
        floor = moved.watermark - overlap
        recent = {(i, t) for i, t in self.recent | {(item_id, _stamp(at))} if datetime.fromisoformat(t) >= floor}
        return PollCursor(moved.watermark, moved.seen, frozenset(recent))

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"watermark": self.watermark.isoformat() if self.watermark else None,
                               "seen": sorted(self.seen)}
        if self.recent:
            doc["recent"] = sorted([i, t] for i, t in self.recent)
        return json.dumps(doc).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "PollCursor":
        doc = json.loads(data)
        mark = doc.get("watermark")
        return cls(datetime.fromisoformat(mark) if mark else None, frozenset(doc.get("seen") or ()),
                   frozenset((str(i), str(t)) for i, t in doc.get("recent") or ()))


def _stamp(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


@dataclass
class PollBatch:
    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: PollCursor = field(default_factory=PollCursor)


class PollOptions(PlatformSettings):
    """Settings of a platform that pushes by webhook and can also be polled (transport ``"both"``)."""

    poll: bool = Field(False, description="Also poll the platform's API (reconciles lost webhooks): `invoicing poll`.")
    poll_page_size: int = Field(50, ge=1, le=100, description="Documents per API page when polling.")
    poll_max_pages: int = Field(40, ge=1, description="Pages read per poll cycle at most (the rest next cycle).")
    poll_overlap_seconds: float = Field(60.0, ge=0, description="Window below the watermark re-read on every poll "
                                        "(changes that become visible late with an older time stamp).")
    poll_since: datetime | None = Field(None, description="Where the first poll starts when no cursor is stored "
                                        "(ISO 8601; naive = UTC). Unset: POLL_LOOKBACK_DAYS before now.")
    poll_lookback_days: float = Field(3.0, ge=0, description="First poll without a cursor or POLL_SINCE: this far back.")

    def poll_start(self, now: datetime | None = None) -> datetime:
        """The lower bound of a poll without a cursor (never all of history by accident)."""
        if self.poll_since is not None:
            since = self.poll_since
            return since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        return (now or datetime.now(timezone.utc)) - timedelta(days=self.poll_lookback_days)


class PollingSource(Protocol):
    platform: str

    async def poll(self, client: httpx.AsyncClient, cursor: PollCursor) -> PollBatch: ...


def raw_event_from_poll(source: Any, body: bytes, headers: Mapping[str, str], url: str) -> dict[str, Any] | None:
    """The raw-event record for one polled document, or ``None`` when it triggers nothing.

    Raises:
        PayloadError: the document cannot be read (the source's own ``describe``).
    """
    from invoicing.gateway import raw_event_record
    from sources.base import InboundRequest

    inbound = InboundRequest(method="POST", path=f"/webhooks/{source.platform}", query="",
                             headers={k.lower(): v for k, v in headers.items()}, body=body, url=url)
    try:
        info = source.describe(inbound)
    except IgnoredEvent:
        return None
    return raw_event_record(source.platform, info, inbound, source)


async def poll_keyset(
    cursor: PollCursor, fetch_page: Callable[[datetime, int], Awaitable[Sequence[Mapping[str, Any]]]], *,
    options: PollOptions, item_at: Callable[[Mapping[str, Any]], datetime], item_id: Callable[[Mapping[str, Any]], str],
    record_of: Callable[[Mapping[str, Any]], dict[str, Any] | None], platform: str,
) -> PollBatch:
    """Read a list endpoint sorted by modification time (ascending) from the cursor on.

    *fetch_page(since, page)* answers page *page* (1-based, ``options.poll_page_size`` long)
    of the documents modified after *since*. After a page that moved the watermark, page 1
    is asked again from the new watermark less the overlap (keyset style), so documents
    changed during a poll cannot shift past a page. *record_of* builds the raw-event record
    (``None``: nothing to publish); an unreadable document is logged and skipped.

    Raises:
        FetchError: the API failed (the caller's cursor stays where it was).
    """
    overlap = timedelta(seconds=options.poll_overlap_seconds)
    size = options.poll_page_size
    batch = PollBatch(cursor=cursor)
    page = 1
    for _ in range(options.poll_max_pages):
        mark = batch.cursor.watermark
        items = await fetch_page(mark - overlap if mark is not None else options.poll_start(), page)
        for item in items:
            try:
                at, key = item_at(item), item_id(item)
            except (PayloadError, KeyError, TypeError, ValueError):
                log.warning("%s: a polled document without id or modification time skipped", platform)
                continue
            if not batch.cursor.is_new_within(at, key, overlap):
                continue
            try:
                record = record_of(item)
            except PayloadError as exc:  # one unreadable document must not stop the poller
                log.warning("%s: polled document %s skipped: %s", platform, key, exc)
                record = None
            if record is not None:
                batch.records.append(record)
            batch.cursor = batch.cursor.advance_within(at, key, overlap)
        if len(items) < size:
            break
        page = 1 if batch.cursor.watermark != mark else page + 1
    return batch


def pollable_sources(platform: str | None = None) -> dict[str, Any]:
    """Registered sources to poll, built from their settings."""
    from sources.registry import SOURCES

    out: dict[str, Any] = {}
    for name, cls in SOURCES.items():
        if platform and name != platform:
            continue
        if not hasattr(cls, "poll") or cls.transport not in ("poll", "both"):
            continue
        source = cls()
        if cls.transport == "both" and not getattr(source.settings, "poll", False):
            continue
        out[name] = source
    return out


class CursorStore:
    """Cursors on a compacted topic, keyed by platform."""

    def __init__(self, settings: Settings, bootstrap: str, producer: AIOKafkaProducer) -> None:
        self.topic = Topics.from_settings(settings).poll_cursors
        self.bootstrap = bootstrap
        self.producer = producer

    async def load(self) -> dict[str, PollCursor]:
        """The latest cursor per platform (the whole topic, read to its end)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        cursors: dict[str, PollCursor] = {}
        try:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(self.topic) or set()
            if not parts:
                return cursors
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            while pending:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batch.items():
                    for msg in msgs:
                        if msg.key is not None and msg.value is not None:
                            cursors[msg.key.decode()] = PollCursor.from_json(msg.value)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return cursors
        finally:
            await consumer.stop()

    async def save(self, platform: str, cursor: PollCursor) -> None:
        await self.producer.send_and_wait(self.topic, cursor.to_json(), key=platform.encode())


class Poller:
    """Polls sources and publishes what they return; one instance per process."""

    def __init__(self, settings: Settings, bootstrap: str, sources: Mapping[str, Any] | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.raw_topic = Topics.from_settings(settings).raw
        self.sources = dict(sources) if sources is not None else pollable_sources()
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False,
                                         request_timeout_ms=10_000)
        self.store = CursorStore(settings, bootstrap, self.producer)
        self._client = client
        self._own_client = client is None
        self.cursors: dict[str, PollCursor] = {}

    async def start(self) -> None:
        await self.producer.start()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.sink_timeout)
        self.cursors = await self.store.load()

    async def stop(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
        await self.producer.stop()

    async def __aenter__(self) -> "Poller":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll_once(self) -> dict[str, int]:
        """One cycle over every source: events published per platform (-1: the poll failed)."""
        assert self._client is not None, "start() first"
        counts: dict[str, int] = {}
        for name, source in self.sources.items():
            cursor = self.cursors.get(name, PollCursor())
            try:
                batch = await source.poll(self._client, cursor)
            except (SourceError, PipelineError) as exc:
                log.warning("polling %s failed, cursor kept: %s", name, exc)
                counts[name] = -1
                continue
            for record in batch.records:
                key = f"{name}:{record['event_id']}".encode()
                await self.producer.send_and_wait(self.raw_topic, encode("raw_event", record), key=key)
            if batch.cursor != cursor:
                await self.store.save(name, batch.cursor)
                self.cursors[name] = batch.cursor
            counts[name] = len(batch.records)
        return counts

    async def run(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """Poll every *interval* seconds until *stop* is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            counts = await self.poll_once()
            log.info("poll cycle: %s", counts)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
