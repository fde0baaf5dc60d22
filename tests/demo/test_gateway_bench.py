"""`invoicing bench`'s gateway and latency measurements on the real broker, small: every signed webhook is answered
2xx over the bench's own HTTP/1.1 client and is on the raw-events topic (the bench raises when a 2xx has no
record); in the latency run every accepted webhook's invoice is found and measured. The rates and times themselves
are the bench's to report, never a test's."""
from __future__ import annotations

from pathlib import Path

import pytest

from demo.bench import latency
from demo.gateway_bench import gateway_alone

pytestmark = pytest.mark.slow


async def test_the_gateway_alone_accepts_every_signed_webhook_onto_the_topic(bootstrap: str, tmp_path: Path) -> None:
    result = await gateway_alone(bootstrap, 120, tmp_path, connections=6)
    assert (result["requests"], result["accepted"], result["connections"]) == (120, 120, 6)
    assert result["requests_per_s"] > 0 and result["seconds"] > 0


async def test_the_latency_run_measures_every_webhook_it_offers(bootstrap: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """90 webhooks at 30/s over the run's 64 connections: connections 0-25 send twice, 2.1 s apart, and the
    gateway (keep-alive 1 s here) has closed them in between, so they are opened again. Every webhook is answered
    2xx and its invoice measured."""
    monkeypatch.setenv("INVOICING_KEEP_ALIVE_TIMEOUT", "1")  # read by the gateway process the run starts
    result = await latency(bootstrap, 30.0, 3.0, tmp_path)
    assert (result["events"], result["measured"], result["rejected"]) == (90, 90, 0), result
    assert 0 < result["p50_ms"] <= result["p99_ms"] and result["http_p99_ms"] > 0
    assert result["offered_per_s"] > 0 and result["answered_per_s"] > 0
