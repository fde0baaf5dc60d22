"""Prometheus metrics of the gateway and the worker (each serves its own /metrics)."""
from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "WEBHOOKS", "WEBHOOK_LATENCY", "EVENTS_IN", "DUPLICATES", "INVOICES_ISSUED", "INVOICED_AMOUNT",
    "DEAD_LETTERS", "DELIVERIES", "DELIVERY_LATENCY", "STAGE_LATENCY", "FETCHES", "ORDER_STATE_UPDATES",
    "OPEN_CYCLES", "OPEN_CYCLE_ORDERS", "ORDER_STATES", "ORDER_STATES_SWEPT", "CIRCUIT_STATE", "RATE_LIMIT_WAITS", "ISSUE_LATENCY",
    "STREAM_GAPS", "STREAM_REDELIVERED", "DRAFTS_REFUSED", "count_refusal", "DOCUMENTS_REJECTED", "UNCONFIGURED_TARGET",
    "CONSUMER_LAG", "DEAD_LETTERS_PENDING", "WEBHOOK_TO_INVOICE", "WEBHOOK_TO_DELIVERY", "CHANGELOG_BULK_RECOVERED",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10)

WEBHOOKS = Counter("invoicing_webhook_requests_total", "Webhook requests by platform and HTTP status.", ["platform", "status"])
WEBHOOK_LATENCY = Histogram("invoicing_webhook_seconds", "Webhook handling time until the broker acknowledged.", ["platform"], buckets=_LATENCY_BUCKETS)
EVENTS_IN = Counter("invoicing_events_in_total", "Order events read from platforms, by trigger kind.", ["platform", "trigger"])
DUPLICATES = Counter("invoicing_duplicates_dropped_total", "Duplicates dropped: level=event (same platform event) or order (same order again).", ["level", "trigger"])
ORDER_STATE_UPDATES = Counter("invoicing_order_state_updates_total", "Events that updated an order without issuing (paid, cancelled, accumulated).", ["kind"])
INVOICES_ISSUED = Counter("invoicing_invoices_issued_total", "Invoices and credit notes issued, by numbering series, document type, trigger kind and currency.", ["series", "document_type", "trigger", "currency"])
INVOICED_AMOUNT = Counter("invoicing_invoiced_amount_total", "Sum of invoice totals in the currency's units, by series and currency (for dashboards only; the books use Decimal).", ["series", "currency"])
ISSUE_LATENCY = Histogram("invoicing_issue_wait_seconds", "From issue request written to invoice issued.", buckets=_LATENCY_BUCKETS)
CHANGELOG_BULK_RECOVERED = Counter("invoicing_changelog_bulk_recovered_total", "Changelog records a worker applied to its tables at recovery with the bulk read (the rest, if any, went through Faust's own loop).", ["table"])
DEAD_LETTERS = Counter("invoicing_dead_letters_total", "Messages sent to the dead-letter topic, by stage.", ["stage"])
DELIVERIES = Counter("invoicing_deliveries_total", "Delivery outcomes per target: ok, already_present, retried, failed, parked.", ["target", "outcome"])
UNCONFIGURED_TARGET = Counter("invoicing_unconfigured_target_deliveries_total", "Deliveries parked because reference data routes to a target this deployment has not configured.", ["target"])
DELIVERY_LATENCY = Histogram("invoicing_delivery_seconds", "Time to deliver one invoice to a target, retries included.", ["target"], buckets=_LATENCY_BUCKETS)
STAGE_LATENCY = Histogram("invoicing_stage_seconds", "Processing time per event and stage.", ["stage"], buckets=_LATENCY_BUCKETS)
FETCHES = Counter("invoicing_fetches_total", "Thin-event document fetches by platform and outcome.", ["platform", "outcome"])
ORDER_STATES = Gauge("invoicing_order_states", "Order states held for deduplication (bounded by the retention).")
ORDER_STATES_SWEPT = Counter("invoicing_order_states_swept_total", "Order states dropped after the dedup retention.")
OPEN_CYCLES = Gauge("invoicing_open_cycles", "Billing cycles holding orders, not yet closed.")
OPEN_CYCLE_ORDERS = Gauge("invoicing_open_cycle_orders", "Orders waiting in open billing cycles.")
CIRCUIT_STATE = Gauge("invoicing_circuit_open", "1 while a target's circuit breaker is open.", ["target"])
RATE_LIMIT_WAITS = Counter("invoicing_rate_limit_wait_seconds_total", "Seconds spent waiting for a target's rate limit.", ["target"])
STREAM_GAPS = Counter("invoicing_stream_gaps_total", "Times a stream processor found records missing before the one it got, and read them again.", ["topic"])
STREAM_REDELIVERED = Counter("invoicing_stream_redelivered_total", "Records the consumer delivered again after a seek, skipped as already processed.", ["topic"])
DOCUMENTS_REJECTED = Counter("invoicing_documents_rejected_total", "E-invoice documents that failed validation (XSD, EN 16931, Peppol rules) before delivery, by format and target.", ["format", "target"])
_END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
WEBHOOK_TO_INVOICE = Histogram("invoicing_webhook_to_invoice_seconds", "From the gateway receiving the webhook to its invoice written to the invoices topic (first issue only; replays and cycle invoices not counted).", buckets=_END_TO_END_BUCKETS)
WEBHOOK_TO_DELIVERY = Histogram("invoicing_webhook_to_delivery_seconds", "From the gateway receiving the webhook to the invoice delivered to a target (first delivery of an immediately issued invoice).", ["target"], buckets=_END_TO_END_BUCKETS)
CONSUMER_LAG = Gauge("invoicing_consumer_lag_messages", "Messages on a partition after the consumer group's committed offset (end offset - committed), measured by the worker.", ["group", "topic", "partition"])
DEAD_LETTERS_PENDING = Gauge("invoicing_dead_letters_pending", "Dead letters not replayed yet, by stage and target ('' for none), as the worker reads the dead-letter topic.", ["stage", "target"])
DRAFTS_REFUSED = Counter("invoicing_drafts_refused_total", "Drafts the gate refused before numbering, by stage and failing field (lines[i] counted as lines).", ["stage", "field"])


def count_refusal(stage: str, error: BaseException) -> None:
    """Count a refused draft once per failing field (`domain.gate.DraftRefused` carries them)."""
    for field in {re.sub(r"\[\d+\]", "", p.field) for p in getattr(error, "problems", ())}:
        DRAFTS_REFUSED.labels(stage, field).inc()
