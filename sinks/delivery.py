"""Deliver one invoice to one sink: look up, create, retry with jittered backoff, receipt.

The sequence per (invoice, target) is find → create → (on error) wait and repeat,
up to ``sink_max_attempts``. A credit note is found or created through the target's
credit-note mechanism, linked to the target's copy of the invoice it corrects (found
first; while it is not there the credit note waits, retried, then parked); a target
without credit notes gets a ``NOT_APPLICABLE`` receipt naming why. A target that answered ``Retry-After`` is never
called sooner; when it asks for longer than ``sink_backoff_max`` the invoice is
parked (retriable) instead of holding the agent. An answer that cannot be
parsed is retried like a 5xx. Fatal errors (validation, auth) are not retried.
The caller parks whatever is not delivered on the dead-letter topic; nothing
is dropped.

Metrics per target (``invoicing_deliveries_total{outcome}``): ``ok`` /
``already_present`` per delivered invoice, ``failed`` per failed call,
``retried`` per retry, ``parked`` per invoice given up on.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from domain.errors import AuthError, FatalSinkError, RetriableSinkError, SinkError
from domain.metrics import DELIVERIES, DELIVERY_LATENCY
from domain.settings import Settings
from infra.http import why_unreachable
from sinks.base import InvoiceRef, Sink, original_of
from sinks.resilience import CircuitOpen, guard_for

__all__ = ["DeliveryResult", "deliver", "backoff_delay"]


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # DELIVERED | ALREADY_PRESENT | PARKED | NOT_APPLICABLE
    attempts: int
    external_id: str | None = None
    detail: str | None = None
    retriable: bool = False


def backoff_delay(attempt: int, settings: Settings, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; a target's Retry-After is the floor (the target is never called sooner)."""
    cap = min(settings.sink_backoff_max, settings.sink_backoff_base * (2 ** (attempt - 1)))
    delay = random.uniform(cap / 2, cap)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def deliver(sink: Sink, invoice: Mapping[str, Any], settings: Settings) -> DeliveryResult:
    key = str(invoice["invoice_id"])
    credit_note = invoice.get("document_type") == "CREDIT_NOTE"
    if credit_note and sink.no_credit_notes:
        DELIVERIES.labels(sink.target, "not_applicable").inc()
        return DeliveryResult("NOT_APPLICABLE", 0, detail=sink.no_credit_notes)
    started = time.perf_counter()
    attempts = 0
    last: SinkError | None = None
    guard = guard_for(sink.target, sink.rate_limit_per_minute, threshold=settings.circuit_threshold,
                      cooldown=settings.circuit_cooldown, tenant=getattr(sink.settings, "tenant", None))

    async def call(coro_factory: Any) -> Any:
        guard.breaker.before_call()
        if guard.limiter is not None:
            await guard.limiter.acquire(sink.target)
        return await asyncio.wait_for(coro_factory(), settings.sink_timeout)

    try:
        while attempts < settings.sink_max_attempts:
            attempts += 1
            try:
                found = await call(lambda: sink.find_credit_note(invoice, key) if credit_note
                                   else sink.find_invoice(invoice, key))
                if found is not None:
                    guard.breaker.success()
                    DELIVERIES.labels(sink.target, "already_present").inc()
                    return DeliveryResult("ALREADY_PRESENT", attempts, found.external_id)
                if credit_note:
                    original = await _original(sink, invoice, call)
                    ref = await call(lambda: sink.create_credit_note(invoice, key, original))
                else:
                    ref = await call(lambda: sink.create_invoice(invoice, key))
                guard.breaker.success()
                DELIVERIES.labels(sink.target, "ok").inc()
                return DeliveryResult("DELIVERED", attempts, ref.external_id)
            except CircuitOpen as exc:
                DELIVERIES.labels(sink.target, "parked").inc()
                detail = f"{exc}; last error: {last}" if last is not None else str(exc)
                return DeliveryResult("PARKED", attempts, detail=detail, retriable=True)
            except FatalSinkError as exc:
                DELIVERIES.labels(sink.target, "failed").inc()
                DELIVERIES.labels(sink.target, "parked").inc()
                why = "the target refused our credentials" if isinstance(exc, AuthError) else "the target rejected it"
                return DeliveryResult("PARKED", attempts, detail=f"{why}: {exc}")
            except RetriableSinkError as exc:
                last = exc
            except (asyncio.TimeoutError, httpx.TimeoutException):
                last = RetriableSinkError(f"the target timed out after {settings.sink_timeout}s")
            except httpx.TransportError as exc:
                last = RetriableSinkError(f"connection failed: {why_unreachable(exc)}")
            except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                # an answer that is not the platform's documented shape (a proxy's HTML page, a cut body)
                last = RetriableSinkError(f"the target's answer is not in its documented shape: {str(exc)[:200]}")
            guard.breaker.failure()
            DELIVERIES.labels(sink.target, "failed").inc()
            retry_after = last.retry_after
            if retry_after is not None and retry_after > settings.sink_backoff_max:
                DELIVERIES.labels(sink.target, "parked").inc()
                return DeliveryResult("PARKED", attempts, retriable=True,
                                      detail=f"{last} (Retry-After {retry_after:g}s is longer than "
                                             f"INVOICING_SINK_BACKOFF_MAX {settings.sink_backoff_max:g}s: replay later)")
            if attempts < settings.sink_max_attempts:
                DELIVERIES.labels(sink.target, "retried").inc()
                await asyncio.sleep(backoff_delay(attempts, settings, retry_after))
        DELIVERIES.labels(sink.target, "parked").inc()
        return DeliveryResult("PARKED", attempts, detail=f"retries exhausted: {last}", retriable=True)
    finally:
        DELIVERY_LATENCY.labels(sink.target).observe(time.perf_counter() - started)


async def _original(sink: Sink, note: Mapping[str, Any], call: Any) -> InvoiceRef:
    """The target's copy of the invoice *note* corrects.

    Raises:
        RetriableSinkError: not there (yet): its own delivery may still be running or parked.
    """
    invoice = original_of(note)
    found: InvoiceRef | None = await call(lambda: sink.find_invoice(invoice, str(invoice["invoice_id"])))
    if found is None:
        raise RetriableSinkError(f"credit note {note['number']} corrects invoice {note.get('preceding_invoice')}, which is "
                                 f"not at {sink.target} yet; the credit note waits for it (replay it once the invoice "
                                 "is delivered there)")
    return found
