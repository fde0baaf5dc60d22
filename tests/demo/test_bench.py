"""`invoicing bench`'s scale-out run on the real broker: one and two worker processes in one consumer group each
issue every invoice (the run fails when any is missing); the numbers themselves are not asserted (speed is the
bench's to report, never a test's)."""
from __future__ import annotations

from pathlib import Path

import pytest

from demo.bench import scale_out

pytestmark = pytest.mark.slow


async def test_one_and_two_workers_in_one_group_issue_every_invoice(bootstrap: str, tmp_path: Path) -> None:
    result = await scale_out(bootstrap, 30, tmp_path)
    assert set(result) == {"partitions", "workers_1_events_per_s", "workers_2_events_per_s", "ratio"}
    assert result["partitions"] == 2
    assert result["workers_1_events_per_s"] > 0 and result["workers_2_events_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["workers_2_events_per_s"] / result["workers_1_events_per_s"], rel=0.01)
    logs = sorted(p.name for p in tmp_path.glob("worker-*.log"))
    assert len(logs) == 3, logs  # one worker, then two
