"""`invoicing bench`'s gateway measurement on the real broker, small: every signed webhook is answered 2xx over
the bench's own HTTP/1.1 client and is on the raw-events topic (the bench raises when a 2xx has no record).
The rate itself is the bench's to report, never a test's."""
from __future__ import annotations

from pathlib import Path

import pytest

from demo.gateway_bench import gateway_alone

pytestmark = pytest.mark.slow


async def test_the_gateway_alone_accepts_every_signed_webhook_onto_the_topic(bootstrap: str, tmp_path: Path) -> None:
    result = await gateway_alone(bootstrap, 120, tmp_path, connections=6)
    assert (result["requests"], result["accepted"], result["connections"]) == (120, 120, 6)
    assert result["requests_per_s"] > 0 and result["seconds"] > 0
