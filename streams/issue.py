"""Agent ``issue``: issue requests (keyed by series) → numbered invoices on ``invoices``.

One partition holds a series, so one writer numbers it. The ``issued`` table maps
invoice id → the issued invoice, written once per invoice: a replayed request
re-sends the stored bytes (byte-identical), so the same order keeps its number.
The next number of a series is derived from that table (`streams.numbering`), never
kept separately, so numbers stay consecutive without holes. The issue date is the request's broker
timestamp, so a replay after a crash reproduces the same invoice.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from domain.billing import issue as issue_invoice
from domain.codec import decode, encode
from domain.corrections import credit_note_for
from domain.errors import CodecError, PipelineError
from domain.gate import DraftRefused, refuse_if_invalid
from domain.jsonlog import add_log_context
from domain.latency import carried, observe_issued
from domain.metrics import INVOICED_AMOUNT, INVOICES_ISSUED, ISSUE_LATENCY, STAGE_LATENCY, count_refusal

from streams.context import Context
from streams.numbering import pack, unpack
from streams.acking import guarded, processed_events
from streams.channels import message_kind

__all__ = ["issue", "credit"]

log = logging.getLogger("streams.issue")


async def credit(p: Context, event: Any) -> None:
    """A cancelled order after issue: a credit note in its own series, referencing the invoice."""
    try:
        req = json.loads(event.value)
        stored = p.tables.issued.get(req["invoice_id"].encode())
        if stored is None:
            raise PipelineError(f"credit requested for invoice {req['invoice_id']} which was not p.tables.issued here")
        invoice = decode("invoice", unpack(stored)[2])
        note = credit_note_for(invoice, reason=req["reason"], order_key=req.get("order_key"), lineage=req.get("lineage"))
        value = encode("invoice", note)
    except (PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        await p.dead_letter(event, stage="credit", error=exc)
        return
    await p.channels.issue.send(key=note["series"].encode(), value=value)


async def issue(p: Context, stream: Any) -> None:
    await p.ready()
    async for event in processed_events(stream, "issue"):
        async with guarded(p, event, "issue"):
            started = time.perf_counter()
            if message_kind(event) == "credit":
                await credit(p, event)
                continue
            try:
                draft = decode("invoice", event.value)
            except CodecError as exc:
                await p.dead_letter(event, stage="issue", error=exc)
                continue
            invoice_id = draft["invoice_id"].encode()
            source: dict[str, Any] = next(iter(draft["lineage"]), {})
            add_log_context(invoice_id=draft["invoice_id"], order_key=next(iter(draft["orders"]), None),
                            platform=source.get("platform"), event_id=source.get("event_id"))
            existing = p.tables.issued.get(invoice_id)
            if existing is not None:
                _, _, stored = unpack(existing)
                await p.channels.invoices.send(key=invoice_id, value=stored)
                continue
            issued_at = datetime.fromtimestamp(event.message.timestamp, tz=timezone.utc)
            try:
                # the gate once more, right before the number (drafts are gated when built; this one
                # may be an old request replayed): a refused draft takes no number
                refuse_if_invalid(draft, reference_date=issued_at.date())
            except DraftRefused as exc:
                count_refusal("issue", exc)
                await p.dead_letter(event, stage="issue", error=f"{exc} (replay the order's dead letter "
                                    "from the bill stage after fixing the data: this request is stale)")
                continue
            try:
                seq = p.numbering.next(draft["series"])
                invoice = issue_invoice(draft, sequence=seq, issued_at=issued_at,
                                        seller=p.reference.sellers.get(draft["seller"]["party_id"]))
                value = encode("invoice", invoice)
            except (PipelineError, KeyError, ValueError, ArithmeticError) as exc:
                p.numbering.discard(draft["series"])
                await p.dead_letter(event, stage="issue", error=exc)
                continue
            p.tables.issued[invoice_id] = pack(seq, draft["series"], value)
            p.numbering.used(draft["series"], seq)
            add_log_context(invoice_number=invoice["number"])
            log.info("invoice %s issued in series %s", invoice["number"], invoice["series"])
            await p.channels.invoices.send(key=invoice_id, value=value, headers=carried(event.headers))
            observe_issued(event.headers)
            INVOICES_ISSUED.labels(invoice["series"], invoice["document_type"], invoice["trigger"], invoice["currency"]).inc()
            if invoice["total"] > 0:  # the gate lets nothing else through; a metric never fails after the send
                INVOICED_AMOUNT.labels(invoice["series"], invoice["currency"]).inc(float(invoice["total"]))
            ISSUE_LATENCY.observe(max(0.0, time.time() - event.message.timestamp))
            STAGE_LATENCY.labels("issue").observe(time.perf_counter() - started)
