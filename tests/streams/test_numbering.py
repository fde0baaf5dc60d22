"""Series counters and the numbering floor kept on the worker's disk (streams/numbering.py).

The ``issued`` table is a plain dict here (the counters only read its values); the same code on the real
broker, with the broker restarted empty under a running worker, is tests/infra/test_broker_loss.py."""
from __future__ import annotations

from pathlib import Path

from streams.numbering import NumberingFloor, SeriesCounters, pack

S = "INV-2026"


def table(*sequences: int, series: str = S) -> dict[bytes, bytes]:
    return {f"id-{n}".encode(): pack(n, series, b"{}") for n in sequences}


def issue(counters: SeriesCounters, issued: dict[bytes, bytes], series: str = S) -> int:
    seq = counters.next(series)
    issued[f"id-{seq}".encode()] = pack(seq, series, b"{}")
    counters.used(series, seq)
    return seq


def test_a_new_broker_epoch_goes_on_after_the_last_numbers(tmp_path: Path) -> None:
    path = tmp_path / "floor.json"
    first = table()
    counters = SeriesCounters(first, NumberingFloor(path, "epoch-1"))
    assert [issue(counters, first) for _ in range(3)] == [1, 2, 3]
    assert issue(counters, first, "CN-2026") == 1

    # the broker comes back empty: a new epoch and an empty table
    emptied = table()
    counters = SeriesCounters(emptied, NumberingFloor(path, "epoch-2"))
    assert issue(counters, emptied) == 4
    assert issue(counters, emptied, "CN-2026") == 2
    assert issue(counters, emptied, "OTHER") == 1


def test_the_floor_outlives_a_restart_in_the_new_epoch(tmp_path: Path) -> None:
    path = tmp_path / "floor.json"
    issued = table()
    counters = SeriesCounters(issued, NumberingFloor(path, "epoch-1"))
    for _ in range(5):
        issue(counters, issued)
    NumberingFloor(path, "epoch-2")  # a worker starts in the new epoch and stops before issuing anything
    assert SeriesCounters(table(), NumberingFloor(path, "epoch-2")).next(S) == 6


def test_in_the_same_epoch_the_table_decides_and_a_crash_leaves_no_hole(tmp_path: Path) -> None:
    path = tmp_path / "floor.json"
    floor = NumberingFloor(path, "epoch-1")
    floor.issued(S, 7)  # the file says 7, but the worker died before the table's write of 7 was kept
    restarted = SeriesCounters(table(1, 2, 3, 4, 5, 6), NumberingFloor(path, "epoch-1"))
    assert restarted.next(S) == 7


def test_without_an_epoch_nothing_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "floor.json"
    issued = table()
    counters = SeriesCounters(issued, NumberingFloor(path, None))
    issue(counters, issued)
    assert not path.exists()
