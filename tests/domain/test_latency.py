"""End-to-end latency (domain.latency): the webhook's acceptance time travels as the ``accepted-ms`` header and
is observed once the invoice is issued and once it is delivered. On a real worker, with a real Prometheus:
tests/deploy/test_prometheus_live.py."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from domain.latency import ACCEPTED_HEADER, accepted_headers, accepted_ms, carried, observe_delivered, observe_issued
from domain.metrics import WEBHOOK_TO_DELIVERY, WEBHOOK_TO_INVOICE


def _count_and_sum(metric: object, **labels: str) -> tuple[float, float]:
    """The histogram's exported _count and _sum for *labels* (0 and 0 before the first observation)."""
    samples = {s.name: s.value for fam in metric.collect()  # type: ignore[attr-defined]
               for s in fam.samples if all(s.labels.get(k) == v for k, v in labels.items())}
    return (next((v for k, v in samples.items() if k.endswith("_count")), 0.0),
            next((v for k, v in samples.items() if k.endswith("_sum")), 0.0))


def test_the_acceptance_time_travels_in_a_header_and_survives_the_hops() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
    headers = accepted_headers(at)
    assert headers == {ACCEPTED_HEADER: str(int(at.timestamp() * 1000)).encode()}
    assert accepted_ms(headers) == int(at.timestamp() * 1000)
    assert carried(headers) == headers, "the issue agent copies it onto the invoice"
    assert carried({"kind": b"credit"}) == {} and accepted_headers(None) == {}
    assert accepted_ms({ACCEPTED_HEADER: b"not a number"}) is None and accepted_ms(None) is None


def test_issued_and_delivered_are_observed_from_the_acceptance_time() -> None:
    headers = accepted_headers(datetime.now(timezone.utc) - timedelta(seconds=3))
    count, total = _count_and_sum(WEBHOOK_TO_INVOICE)
    observe_issued(headers)
    observe_issued({})  # a cycle invoice, or a replay without the header: not observed
    new_count, new_total = _count_and_sum(WEBHOOK_TO_INVOICE)
    assert new_count == count + 1 and 3 <= new_total - total < 3 + 60

    count, total = _count_and_sum(WEBHOOK_TO_DELIVERY, target="latency-test")
    observe_delivered(headers, "latency-test")
    new_count, new_total = _count_and_sum(WEBHOOK_TO_DELIVERY, target="latency-test")
    assert new_count == count + 1 and 3 <= new_total - total < 3 + 60


def test_a_clock_behind_the_gateway_s_never_gives_a_negative_latency() -> None:
    future = {ACCEPTED_HEADER: str(int((time.time() + 60) * 1000)).encode()}
    count, total = _count_and_sum(WEBHOOK_TO_INVOICE)
    observe_issued(future)
    new_count, new_total = _count_and_sum(WEBHOOK_TO_INVOICE)
    assert new_count == count + 1 and new_total == total
