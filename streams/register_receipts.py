"""Agent ``register_receipts``: every delivery receipt into the invoice register.

Runs when the register is in use (`sinks.register.register_in_use`):
``INVOICING_REGISTER_RECEIPTS=true``, or, when that is unset, a register DSN is
given, ``register`` is a default target, or the default SQLite file exists (the
register sink creates it with the first invoice; checked per batch until true).
``INVOICING_REGISTER_RECEIPTS=false`` turns it off.

Receipts are written in batches, one transaction each; a receipt is unique on
(invoice, target, status, at), so a replayed topic adds nothing. A batch is
acknowledged only after it is recorded (`streams.acking.processed_batches`): a
worker stopped or killed in the middle records it again after the restart. While
the database is unreachable the agent waits and retries the same batch (it does not
move past receipts it has not recorded); an undecodable receipt goes to the
dead-letter topic.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from domain.codec import decode
from domain.errors import CodecError, PipelineError
from sinks.register.engine import db_error_text, open_register, register_in_use
from sinks.register.store import record_receipts

from streams.acking import processed_batches
from streams.context import Context

__all__ = ["register_receipts", "BATCH", "WITHIN"]

log = logging.getLogger("sinks.register")

BATCH = 200
WITHIN = 0.5


async def _record(p: Context, receipts: list[dict[str, Any]]) -> None:
    """Record *receipts*, retrying (capped backoff) until the database takes them."""
    delay = p.settings.sink_backoff_base
    while True:
        try:
            await asyncio.to_thread(lambda: record_receipts(open_register(p.settings), receipts))
            return
        except SQLAlchemyError as exc:
            log.warning("register: %d receipt(s) not recorded yet (%s); retrying in %.1fs",
                        len(receipts), db_error_text(exc), delay)
        except PipelineError as exc:  # bad DSN: nothing will get better by retrying quickly
            log.error("register: %s", exc)
            delay = p.settings.sink_backoff_max
        await asyncio.sleep(delay)
        delay = min(delay * 2, p.settings.sink_backoff_max)


async def register_receipts(p: Context, stream: Any) -> None:
    """Receipts into the register, in batches (bound only when the register records receipts)."""
    await p.ready()
    async for events in processed_batches(stream, "register_receipts", BATCH, WITHIN):
        if not register_in_use(p.settings):
            continue
        batch: list[dict[str, Any]] = []
        for event in events:
            try:
                batch.append(decode("delivery_receipt", event.value))
            except CodecError as exc:
                await p.dead_letter(event, stage="register", error=exc)
        if batch:
            await _record(p, batch)
