"""Agent ``normalise``: raw platform events → canonical order events.

Per raw event: decode the envelope, let the platform's source read it
(fetching the full document for thin events, with retries), and publish each
order event keyed by its order key, so every event about one order reaches the
same ``bill`` partition, where both levels of deduplication happen. This agent
keeps no state.
Anything unreadable goes to the dead-letter topic with the reason.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from domain.codec import decode, encode
from domain.errors import CodecError, FetchError, PayloadError, PipelineError
from domain.jsonlog import add_log_context
from domain.metrics import EVENTS_IN, FETCHES, STAGE_LATENCY

from sources.canonical import OrderEvent
from sources.base import Source, ThinEvent
from streams.context import Context
from streams.acking import guarded, processed_events

__all__ = ["normalise", "normalise_raw"]


async def fetch_with_retries(p: Context, source: Source, thin: ThinEvent) -> list[OrderEvent]:
    """Fetch a thin event's document; retriable failures are retried with backoff.

    Raises:
        FetchError: not retriable, or attempts exhausted.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            assert p.http is not None
            orders = await source.fetch(thin, p.http)
            FETCHES.labels(source.platform, "ok").inc()
            return list(orders)
        except FetchError as exc:
            FETCHES.labels(source.platform, "failed").inc()
            if not exc.retriable or attempt >= p.settings.fetch_max_attempts:
                raise
        await asyncio.sleep(min(p.settings.sink_backoff_max, p.settings.sink_backoff_base * 2 ** (attempt - 1)))


async def normalise_raw(p: Context, raw: dict[str, Any]) -> list[OrderEvent]:
    """The order events of one raw event.

    Raises:
        PayloadError, FetchError, CodecError: the event cannot be processed.
    """
    source = p.sources.get(raw["platform"])
    if source is None:
        raise PayloadError(f"no source for platform {raw['platform']!r}")
    out: list[OrderEvent] = []
    for item in source.normalise(raw):
        if isinstance(item, ThinEvent):
            out.extend(await fetch_with_retries(p, source, item))
        else:
            out.append(item)
    return out


async def normalise(p: Context, stream: Any) -> None:
    await p.ready()
    async for event in processed_events(stream, "normalise"):
        async with guarded(p, event, "normalise"):
            started = time.perf_counter()
            try:
                raw = decode("raw_event", event.value)
                add_log_context(platform=raw["platform"], event_id=raw["event_id"])
                orders = await normalise_raw(p, raw)
            except FetchError as exc:
                await p.dead_letter(event, stage="fetch", error=exc, platform=_platform(event), retriable=exc.retriable)
                continue
            except (CodecError, PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                await p.dead_letter(event, stage="normalise", error=exc, platform=_platform(event))
                continue
            for order in orders:
                EVENTS_IN.labels(order["platform"], order["trigger"]).inc()
                try:
                    value = encode("order_event", order)
                except CodecError as exc:
                    await p.dead_letter(event, stage="normalise", error=exc, platform=order["platform"])
                    continue
                await p.channels.orders.send(key=order["order_key"].encode(), value=value)
            STAGE_LATENCY.labels("normalise").observe(time.perf_counter() - started)


def _platform(event: Any) -> str | None:
    key = event.message.key or b""
    return key.split(b":", 1)[0].decode("utf-8", "replace") or None

