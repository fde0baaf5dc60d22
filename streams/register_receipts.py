"""Agent ``register_receipts``: every delivery receipt into the invoice register.

Runs when the register is in use (`invoicing.register.register_in_use`):
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
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from invoicing.codec import decode
from invoicing.errors import CodecError, PipelineError
from invoicing.register.engine import db_error_text, open_register, register_in_use
from invoicing.register.store import record_receipts

from streams.acking import processed_batches

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

__all__ = ["register", "BATCH", "WITHIN"]

log = logging.getLogger("invoicing.register")

BATCH = 200
WITHIN = 0.5


async def _record(p: "Pipeline", receipts: list[dict[str, Any]]) -> None:
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


def register(p: "Pipeline") -> None:
    """Add the agent to *p* (nothing when ``INVOICING_REGISTER_RECEIPTS=false``)."""
    if p.settings.register_receipts is False:
        return
    # the same topic as p.channels.receipts: raw key and value, decoded with our Avro codec
    receipts_topic = p.app.topic(p.topics.receipts, key_serializer="raw", value_serializer="raw")

    @p.app.agent(receipts_topic, name="register_receipts", concurrency=1)
    async def register_receipts(stream: Any) -> None:
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
