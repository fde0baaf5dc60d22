"""`invoicing bench --state` on the real broker, small: a RocksDB-backed worker recovers the order states written
to the changelog (an event of a recovered order is dropped as a duplicate, only the new order is issued; the
bench raises otherwise) and the report carries the keys the issue names. Speed is not asserted."""
from __future__ import annotations

from pathlib import Path

import pytest

from demo.state_bench import state_recovery

pytestmark = pytest.mark.slow


async def test_worker_recovers_the_dedup_state_and_reports_memory_and_time(bootstrap: str, tmp_path: Path) -> None:
    result = await state_recovery(bootstrap, 2000, tmp_path)
    assert result["store"] == "rocksdb" and result["keys"] == 2000
    assert result["rss_mb"] > 0 and result["rss_empty_mb"] > 0
    assert result["recovery_s"] >= 0
    assert result["start_with_keys_s"] >= result["recovery_s"]
    # every recovered state came through the bulk read of streams/faust_patches.py (patch 5), none through
    # Faust's record-by-record loop (the changelog holds exactly the keys written)
    assert result["bulk_recovered"] == 2000
    # the worker really ran on RocksDB: its state directory holds the orders table's database
    assert list(tmp_path.glob("state-*/**/orders*")), sorted(str(p) for p in tmp_path.rglob("*"))[:20]
