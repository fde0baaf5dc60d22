"""The polling interface: what a source without (reliable) webhooks implements, and the pieces it
builds its poll from. `PollingSource.poll(client, cursor)` answers a `PollBatch`: raw-event
records built exactly as the gateway builds them (`raw_event_from_poll`), and the advanced
`PollCursor`. The poller that runs them is `sources.ingress.poller`.

The cursor is the largest modification time seen plus the ids seen at exactly that instant, so
items sharing the watermark are neither lost nor repeated. Platforms whose modification stamp is
not the commit time (Odoo's ``write_date`` is the transaction's start) also keep the ``(id, time)``
pairs seen inside an overlap window below the watermark (`PollCursor.is_new_within` /
`advance_within`). `poll_keyset` is that loop for REST-style list endpoints (WooCommerce, Odoo),
and `PollOptions` the settings it reads (``INVOICING_<PLATFORM>_POLL``, ``_POLL_PAGE_SIZE``, ...).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable, ClassVar, Mapping, Sequence

import httpx
from pydantic import Field

from domain.errors import IgnoredEvent, PayloadError
from domain.settings import PlatformSettings
from sources.base import InboundRequest
from sources.records import raw_event_record

__all__ = ["PollCursor", "PollBatch", "PollOptions", "PollingSource", "raw_event_from_poll", "poll_keyset"]

log = logging.getLogger("sources.polling")


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
    """Settings of a platform that pushes by webhook and can also be polled (polling opt-in)."""

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


class PollingSource(ABC):
    """A source read by polling, mixed into its `sources.base.Source` class. The poller
    (`sources.ingress.poller`) runs every registered source that is one and has polling enabled."""

    #: the platform has no webhooks, so polling is its only way in; otherwise polling is opt-in
    #: through the platform's ``INVOICING_<PLATFORM>_POLL`` setting (`PollOptions.poll`)
    always_polled: ClassVar[bool] = False
    settings: PlatformSettings

    @abstractmethod
    async def poll(self, client: httpx.AsyncClient, cursor: PollCursor) -> PollBatch:
        """The documents changed since *cursor*, as raw-event records, and the advanced cursor."""

    def polling_enabled(self) -> bool:
        return self.always_polled or (isinstance(self.settings, PollOptions) and self.settings.poll)


def raw_event_from_poll(source: Any, body: bytes, headers: Mapping[str, str], url: str) -> dict[str, Any] | None:
    """The raw-event record for one polled document, or ``None`` when it triggers nothing.

    Raises:
        PayloadError: the document cannot be read (the source's own ``describe``).
    """
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


