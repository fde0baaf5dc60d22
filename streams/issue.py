"""Agent ``issue``: issue requests (keyed by series) → numbered invoices on ``invoices``.

One partition holds a series, so one writer numbers it. The ``issued`` table maps
invoice id → the issued invoice, written once per invoice: a replayed request
re-sends the stored bytes (byte-identical), so the same order keeps its number.
The next number of a series is derived from that table (max sequence + 1), never
kept separately, so no crash can leave a counter ahead of or behind the invoices:
numbers stay consecutive without holes. The issue date is the request's broker
timestamp, so a replay after a crash reproduces the same invoice.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from invoicing.billing import issue as issue_invoice
from invoicing.codec import decode, encode
from invoicing.corrections import credit_note_for
from invoicing.errors import CodecError, PipelineError
from invoicing.gate import DraftRefused, refuse_if_invalid
from invoicing.metrics import INVOICED_AMOUNT, INVOICES_ISSUED, ISSUE_LATENCY, STAGE_LATENCY, count_refusal

from streams.acking import guarded, processed_events
from streams.channels import message_kind

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

__all__ = ["register", "pack", "unpack", "forget_counters"]

_COUNTERS = "_issue_counters"


def pack(sequence: int, series: str, invoice: bytes) -> bytes:
    return b"%d|%s|" % (sequence, series.encode()) + invoice


def unpack(value: bytes) -> tuple[int, str, bytes]:
    seq, series, invoice = value.split(b"|", 2)
    return int(seq), series.decode(), invoice


def forget_counters(p: "Pipeline") -> None:
    """Partitions moved: counters are recomputed from the table on next use."""
    setattr(p, _COUNTERS, {})


def _next_sequence(p: "Pipeline", series: str) -> int:
    counters: dict[str, int] = getattr(p, _COUNTERS, None) or {}
    setattr(p, _COUNTERS, counters)
    if series not in counters:
        top = 0
        for value in p.tables.issued.values():
            if value is None:
                continue
            seq, s, _ = unpack(value)
            if s == series and seq > top:
                top = seq
        counters[series] = top
    counters[series] += 1
    return counters[series]


def register(p: "Pipeline") -> None:
    issued = p.tables.issued

    async def credit(event: Any) -> None:
        """A cancelled order after issue: a credit note in its own series, referencing the invoice."""
        try:
            req = json.loads(event.value)
            stored = issued.get(req["invoice_id"].encode())
            if stored is None:
                raise PipelineError(f"credit requested for invoice {req['invoice_id']} which was not issued here")
            invoice = decode("invoice", unpack(stored)[2])
            note = credit_note_for(invoice, reason=req["reason"], order_key=req.get("order_key"), lineage=req.get("lineage"))
            value = encode("invoice", note)
        except (PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            await p.dead_letter(event, stage="credit", error=exc)
            return
        await p.channels.issue.send(key=note["series"].encode(), value=value)

    @p.app.agent(p.channels.issue, name="issue", concurrency=1)
    async def issue(stream: Any) -> None:
        await p.ready()
        async for event in processed_events(stream, "issue"):
            async with guarded(p, event, "issue"):
                started = time.perf_counter()
                if message_kind(event) == "credit":
                    await credit(event)
                    continue
                try:
                    draft = decode("invoice", event.value)
                except CodecError as exc:
                    await p.dead_letter(event, stage="issue", error=exc)
                    continue
                invoice_id = draft["invoice_id"].encode()
                existing = issued.get(invoice_id)
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
                    seq = _next_sequence(p, draft["series"])
                    invoice = issue_invoice(draft, sequence=seq, issued_at=issued_at,
                                            seller=p.reference.sellers.get(draft["seller"]["party_id"]))
                    value = encode("invoice", invoice)
                except (PipelineError, KeyError, ValueError, ArithmeticError) as exc:
                    getattr(p, _COUNTERS, {}).pop(draft["series"], None)
                    await p.dead_letter(event, stage="issue", error=exc)
                    continue
                issued[invoice_id] = pack(seq, draft["series"], value)
                await p.channels.invoices.send(key=invoice_id, value=value)
                INVOICES_ISSUED.labels(invoice["document_type"], invoice["trigger"]).inc()
                if invoice["total"] > 0:  # the gate lets nothing else through; a metric never fails after the send
                    INVOICED_AMOUNT.labels(invoice["currency"]).inc(float(invoice["total"]))
                ISSUE_LATENCY.observe(max(0.0, time.time() - event.message.timestamp))
                STAGE_LATENCY.labels("issue").observe(time.perf_counter() - started)
