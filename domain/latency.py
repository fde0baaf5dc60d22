"""End-to-end latency: the webhook's acceptance time travels with the event, as a Kafka header.

The gateway stamps every raw event with ``received_at`` (Avro field, then the order event's
``received_at``). The bill agent sends the issue request with the header ``accepted-ms`` (that
time, epoch milliseconds); the issue agent copies it onto the invoice it writes and observes
``invoicing_webhook_to_invoice_seconds``; the deliver agent observes
``invoicing_webhook_to_delivery_seconds{target}``. Only the first issue and the first delivery
are observed (an invoice sent again is not); an event parked and replayed later counts its whole
wait, which is what the customer saw. Invoices of a billing cycle carry no header: their orders
wait for the cycle's end by design.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Mapping

from domain.metrics import WEBHOOK_TO_DELIVERY, WEBHOOK_TO_INVOICE

__all__ = ["ACCEPTED_HEADER", "accepted_headers", "carried", "accepted_ms", "observe_issued", "observe_delivered"]

ACCEPTED_HEADER = "accepted-ms"


def accepted_headers(received_at: datetime | None) -> dict[str, bytes]:
    """The header carrying *received_at* (the webhook's acceptance), or none when unknown."""
    if received_at is None:
        return {}
    return {ACCEPTED_HEADER: str(int(received_at.timestamp() * 1000)).encode()}


def carried(headers: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The acceptance header of *headers* (an incoming event's), to send on with what it became."""
    ms = accepted_ms(headers)
    return {} if ms is None else {ACCEPTED_HEADER: str(ms).encode()}


def accepted_ms(headers: Mapping[str, Any] | None) -> int | None:
    """The acceptance time (epoch ms) in *headers*, or None (absent or unreadable)."""
    raw = (headers or {}).get(ACCEPTED_HEADER)
    if raw is None:
        return None
    try:
        return int(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _since(ms: int) -> float:
    return max(0.0, time.time() - ms / 1000)


def observe_issued(headers: Mapping[str, Any] | None) -> None:
    """The invoice of an event whose headers are *headers* was just written to the invoices topic."""
    ms = accepted_ms(headers)
    if ms is not None:
        WEBHOOK_TO_INVOICE.observe(_since(ms))


def observe_delivered(headers: Mapping[str, Any] | None, target: str) -> None:
    """The invoice of *headers* was just delivered to *target*."""
    ms = accepted_ms(headers)
    if ms is not None:
        WEBHOOK_TO_DELIVERY.labels(target).observe(_since(ms))
