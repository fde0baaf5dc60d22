"""The next number of each series, derived from the ``issued`` table.

The table maps invoice id → ``<sequence>|<series>|<Avro invoice>``, written once per invoice. The
next number of a series is its largest sequence there + 1: the counters here are only a cache of
that, never a separate truth, so no crash can leave a counter ahead of or behind the invoices and
numbers stay consecutive without holes. The cache is dropped when partitions move (`install`
connects the rebalance hook): a series' partition may have a new owner, who recomputes it.

The table lives on the broker (its changelog). A broker that comes back empty (the embedded,
memory-only broker restarted; detected by its epoch marker, `infra.broker.read_epoch`) takes the
table with it, and numbering would start again at 1, reusing numbers already on invoices. So each
worker also keeps, on its own disk, the last number it issued per series and the broker epoch it
issued it in (`NumberingFloor`). In the same epoch the table stays the only truth (a crash between
the file and the table costs no hole); in a new epoch the file's numbers are a floor: numbering goes
on after them. The floor covers the series this worker issued; a cluster that loses every replica
of a changelog is beyond it (the register keeps every number issued).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import faust
from faust.types import TableT

__all__ = ["NumberingFloor", "SeriesCounters", "pack", "unpack"]

log = logging.getLogger("streams.numbering")


def pack(sequence: int, series: str, invoice: bytes) -> bytes:
    return b"%d|%s|" % (sequence, series.encode()) + invoice


def unpack(value: bytes) -> tuple[int, str, bytes]:
    seq, series, invoice = value.split(b"|", 2)
    return int(seq), series.decode(), invoice


class NumberingFloor:
    """What numbering must go on after, per series, kept on this worker's disk across broker epochs.

    The file holds the broker epoch, the last number issued per series in it, and the floor inherited from
    earlier epochs. When the epoch changed (the broker came back empty), the last numbers become the
    floor; in the same epoch the floor stays (a series not issued again yet still starts above it) and
    the table decides the rest.
    With *epoch* ``None`` (no epoch marker known) nothing is read or written."""

    def __init__(self, path: Path, epoch: str | None) -> None:
        self.path = path
        self.epoch = epoch
        self._last: dict[str, int] = {}
        self._floors: dict[str, int] = {}
        self._fd: int | None = None
        self._size = 0
        if epoch is None or not path.exists():
            return
        saved = json.loads(path.read_text())
        last = {str(k): int(v) for k, v in saved.get("last", {}).items()}
        floors = {str(k): int(v) for k, v in saved.get("floor", {}).items()}
        if saved.get("epoch") == epoch:
            self._last, self._floors = last, floors
            return
        self._floors = {k: max(floors.get(k, 0), last.get(k, 0)) for k in floors.keys() | last.keys()}
        if self._floors:
            log.warning("the broker came back empty (a new epoch): numbering goes on after the last numbers "
                        "issued before, %s", ", ".join(f"{k} after {v}" for k, v in sorted(self._floors.items())))
        self._write()

    def floor(self, series: str) -> int:
        return self._floors.get(series, 0)

    def issued(self, series: str, sequence: int) -> None:
        if self.epoch is None or sequence <= self._last.get(series, 0):
            return
        self._last[series] = sequence
        self._write()

    def _write(self) -> None:
        # one pwrite over the start of a file kept open: a write system call is done whole or not at all when the
        # worker dies (what this guards against is the broker losing its memory, not the host losing power: no
        # fsync, which would cap issuing at the disk's flush rate); trailing spaces pad a shorter text
        data = json.dumps({"epoch": self.epoch, "last": self._last, "floor": self._floors}).encode()
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        os.pwrite(self._fd, data.ljust(self._size), 0)
        self._size = max(self._size, len(data))


class SeriesCounters:
    """Per series, the last sequence issued (a cache of the ``issued`` table, above *floor*)."""

    def __init__(self, issued: TableT[bytes, bytes], floor: NumberingFloor | None = None) -> None:
        self.issued = issued
        self.floor = floor
        self._last: dict[str, int] = {}

    def install(self, app: faust.App) -> "SeriesCounters":
        """Forget the cache whenever this worker's partitions are revoked."""
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        return self

    async def _on_revoked(self, app: Any, revoked: Any, **kwargs: Any) -> None:
        self.forget()

    def forget(self) -> None:
        self._last = {}

    def next(self, series: str) -> int:
        """The number the next invoice of *series* takes (call `discard` if it is not issued after all)."""
        if series not in self._last:
            top = 0
            for value in self.issued.values():
                if value is None:
                    continue
                seq, s, _ = unpack(value)
                if s == series and seq > top:
                    top = seq
            self._last[series] = max(top, self.floor.floor(series) if self.floor else 0)
        self._last[series] += 1
        return self._last[series]

    def used(self, series: str, sequence: int) -> None:
        """*sequence* went onto an invoice of *series* (recorded in the floor file)."""
        if self.floor is not None:
            self.floor.issued(series, sequence)

    def discard(self, series: str) -> None:
        """The number taken was not used: recompute *series* from the table next time."""
        self._last.pop(series, None)
