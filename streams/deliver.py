"""Agent ``deliver``: invoices → every target the customer routes to, one receipt per target.

Reads ``invoices`` and ``redeliver`` (what `invoicing dlq replay` sends back).
For each target: skip when a receipt already says delivered, else look up and
create through the sink (see `sinks.delivery`). What is not delivered after the
retry budget, or is rejected, is parked on the dead-letter topic with the
target's message, and gets a PARKED receipt.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from domain.codec import decode, encode
from domain.reasons import plain_reason
from domain.errors import CodecError, PipelineError
from domain.jsonlog import add_log_context
from domain.latency import observe_delivered
from domain.metrics import STAGE_LATENCY

from sinks.delivery import DeliveryResult, deliver as deliver_one
from streams.context import Context
from streams.acking import guarded, processed_events

__all__ = ["deliver"]

_DONE = (b"DELIVERED", b"ALREADY_PRESENT", b"NOT_APPLICABLE")

log = logging.getLogger("streams.deliver")


async def _deliver_target(p: Context, invoice: dict[str, Any], target: str) -> tuple[str, DeliveryResult]:
    """Targets of one invoice are delivered concurrently: a slow one does not hold up the others."""
    try:
        sink = p.sink(target)
    except PipelineError as exc:  # routed to by reference data, but not configured here: parked, retriable
        return target, DeliveryResult("PARKED", 1, detail=f"target {target} is not configured in this deployment: {exc}. "
                                      "Set its variables and restart the worker, then replay", retriable=True)
    try:
        return target, await deliver_one(sink, invoice, p.settings)
    except PipelineError as exc:
        return target, DeliveryResult("PARKED", 1, detail=plain_reason(exc, what=f"the invoice {invoice['number']}"))
    except Exception as exc:  # noqa: BLE001 - a sink's bug must not stop the agent (every target would stall)
        return target, DeliveryResult("PARKED", 1, detail=f"unexpected {type(exc).__name__}: {str(exc)[:200]}",
                                      retriable=True)


async def deliver(p: Context, stream: Any) -> None:
    await p.ready()
    async for event in processed_events(stream, "deliver"):
        async with guarded(p, event, "deliver"):
            started = time.perf_counter()
            try:
                invoice = decode("invoice", event.value)
            except CodecError as exc:
                await p.dead_letter(event, stage="deliver", error=exc)
                continue
            source: dict[str, Any] = next(iter(invoice["lineage"]), {})
            add_log_context(invoice_id=invoice["invoice_id"], invoice_number=invoice["number"],
                            order_key=next(iter(invoice["orders"]), None), platform=source.get("platform"),
                            event_id=source.get("event_id"))
            only = (event.headers or {}).get("target")
            targets = [only.decode() if isinstance(only, bytes) else only] if only else list(invoice["targets"])
            results = await asyncio.gather(*(_deliver_target(p, invoice, t) for t in targets
                                               if p.tables.deliveries.get(f"{invoice['invoice_id']}|{t}".encode()) not in _DONE))
            for target, result in results:
                add_log_context(target=target)
                log.info("invoice %s to %s: %s", invoice["number"], target, result.status)
                receipt = {
                    "invoice_id": invoice["invoice_id"], "number": invoice["number"], "target": target,
                    "status": result.status, "external_id": result.external_id, "attempts": result.attempts,
                    "at": datetime.now(timezone.utc), "detail": result.detail,
                }
                if result.status == "PARKED":
                    await p.dead_letter(event, stage=f"deliver:{target}", error=result.detail or "parked",
                                        replay_topic=p.topics.redeliver, target=target,
                                        retriable=result.retriable, attempts=result.attempts)
                elif result.status in ("DELIVERED", "ALREADY_PRESENT"):
                    observe_delivered(event.headers, target)
                p.tables.deliveries[f"{invoice['invoice_id']}|{target}".encode()] = result.status.encode()
                await p.channels.receipts.send(key=invoice["invoice_id"].encode(), value=encode("delivery_receipt", receipt))
            STAGE_LATENCY.labels("deliver").observe(time.perf_counter() - started)
