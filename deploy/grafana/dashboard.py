"""The "Invoicing pipeline" Grafana dashboard, as code (grafana-foundation-sdk).

    python deploy/grafana/dashboard.py > deploy/grafana/dashboards/invoicing.json

The JSON is committed and provisioned by docker-compose's Grafana; never edit it by hand:
tests/deploy/test_dashboard_and_compose.py fails when it differs from what this file generates, and
tests/deploy/test_prometheus_live.py checks every expression against a real Prometheus scraping a
real gateway and worker.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = ["build", "ROWS", "expressions"]

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")

#: row title → panels: (title, unit, kind, [(expr, legend)])
ROWS: list[tuple[str, list[tuple[str, str, str, list[tuple[str, str]]]]]] = [
    ("Traffic in", [
        ("Webhooks per platform and status", "reqps", "ts",
         [('sum by (platform, status) (rate(invoicing_webhook_requests_total[$__rate_interval]))', "{{platform}} {{status}}")]),
        ("Rejected signatures (401)", "reqps", "ts",
         [('sum by (platform) (rate(invoicing_webhook_requests_total{status="401"}[$__rate_interval]))', "{{platform}}")]),
        ("Gateway p99 until the broker acknowledged", "s", "ts",
         [('histogram_quantile(0.99, sum by (le) (rate(invoicing_webhook_seconds_bucket[$__rate_interval])))', "p99")]),
        ("Order events read, by trigger", "ops", "ts",
         [('sum by (trigger) (rate(invoicing_events_in_total[$__rate_interval]))', "{{trigger}}")]),
    ]),
    ("Pipeline health and lag", [
        ("Consumer lag per topic", "short", "ts",
         [('sum by (group, topic) (max by (group, topic, partition) (invoicing_consumer_lag_messages))', "{{group}} {{topic}}")]),
        ("Readiness checks failing", "short", "stat",
         [('count(invoicing_ready == 0) or vector(0)', "failing")]),
        ("Webhook accepted to invoice on the topic, p50 and p99", "s", "ts",
         [('histogram_quantile(0.5, sum by (le) (rate(invoicing_webhook_to_invoice_seconds_bucket[$__rate_interval])))', "p50"),
          ('histogram_quantile(0.99, sum by (le) (rate(invoicing_webhook_to_invoice_seconds_bucket[$__rate_interval])))', "p99")]),
        ("Stage time p99", "s", "ts",
         [('histogram_quantile(0.99, sum by (le, stage) (rate(invoicing_stage_seconds_bucket[$__rate_interval])))', "{{stage}}")]),
        ("Duplicates dropped", "ops", "ts",
         [('sum by (level) (rate(invoicing_duplicates_dropped_total[$__rate_interval]))', "{{level}}")]),
        ("CPU per process", "percentunit", "ts",
         [('rate(process_cpu_seconds_total{job=~"invoicing-.*"}[$__rate_interval])', "{{job}} {{instance}}")]),
        ("Resident memory per process", "bytes", "ts",
         [('process_resident_memory_bytes{job=~"invoicing-.*"}', "{{job}} {{instance}}")]),
    ]),
    ("Issuing", [
        ("Invoices issued per series and currency", "ops", "ts",
         [('sum by (series, currency) (rate(invoicing_invoices_issued_total[$__rate_interval]))', "{{series}} {{currency}}")]),
        ("Amount invoiced per series and currency (last hour)", "short", "ts",
         [('sum by (series, currency) (increase(invoicing_invoiced_amount_total[1h]))', "{{series}} {{currency}}")]),
        ("Drafts refused by the gate, by field", "short", "ts",
         [('sum by (field) (increase(invoicing_drafts_refused_total[$__rate_interval]))', "{{field}}")]),
        ("Documents failing validation", "short", "ts",
         [('sum by (format, target) (increase(invoicing_documents_rejected_total[$__rate_interval]))', "{{format}} {{target}}")]),
    ]),
    ("Delivery per target", [
        ("Deliveries by outcome", "ops", "ts",
         [('sum by (target, outcome) (rate(invoicing_deliveries_total[$__rate_interval]))', "{{target}} {{outcome}}")]),
        ("Webhook accepted to delivered, p99 per target", "s", "ts",
         [('histogram_quantile(0.99, sum by (le, target) (rate(invoicing_webhook_to_delivery_seconds_bucket[$__rate_interval])))',
           "{{target}}")]),
        ("Circuit open", "short", "ts", [('max by (target) (invoicing_circuit_open)', "{{target}}")]),
        ("Retries and parked deliveries", "ops", "ts",
         [('sum by (target, outcome) (rate(invoicing_deliveries_total{outcome=~"retried|parked"}[$__rate_interval]))',
           "{{target}} {{outcome}}")]),
        ("Rate-limit waits", "s", "ts",
         [('sum by (target) (rate(invoicing_rate_limit_wait_seconds_total[$__rate_interval]))', "{{target}}")]),
    ]),
    ("Dead letters", [
        ("Pending, by stage and target", "short", "ts",
         [('max by (stage, target) (invoicing_dead_letters_pending)', "{{stage}} {{target}}")]),
        ("Parked per minute, by stage", "short", "ts",
         [('sum by (stage) (increase(invoicing_dead_letters_total[1m]))', "{{stage}}")]),
    ]),
    ("Cycles", [
        ("Open billing cycles", "short", "stat", [('sum(invoicing_open_cycles)', "cycles")]),
        ("Orders waiting in open cycles", "short", "stat", [('sum(invoicing_open_cycle_orders)', "orders")]),
    ]),
]


def expressions() -> list[str]:
    """Every PromQL expression of the dashboard, ``$__rate_interval`` left in."""
    return [expr for _row, panels in ROWS for _t, _u, _k, queries in panels for expr, _legend in queries]


def _panel(panel_id: int, title: str, unit: str, kind: str, queries: list[tuple[str, str]]) -> Any:
    panel: Any = (timeseries.Panel() if kind == "ts" else stat.Panel()).id(panel_id).title(title).unit(unit)
    panel = panel.datasource(DATASOURCE).height(8).span(12 if kind == "ts" else 6)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id("ABCDEFGH"[i])
                                  .datasource(DATASOURCE))
    return panel


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    board = (dashboard.Dashboard("Invoicing pipeline").uid("invoicing-pipeline")
             .tags(["invoicing", "generated"]).refresh("30s").time("now-3h", "now").readonly())
    panel_id = 0
    for row, panels in ROWS:
        panel_id += 1
        board = board.with_row(dashboard.Row(row).id(panel_id))
        for spec in panels:
            panel_id += 1
            board = board.with_panel(_panel(panel_id, *spec))
    doc: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    return doc


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
