"""The next number of each series, derived from the ``issued`` table.

The table maps invoice id → ``<sequence>|<series>|<Avro invoice>``, written once per invoice. The
next number of a series is its largest sequence there + 1: the counters here are only a cache of
that, never a separate truth, so no crash can leave a counter ahead of or behind the invoices and
numbers stay consecutive without holes. The cache is dropped when partitions move (`install`
connects the rebalance hook): a series' partition may have a new owner, who recomputes it.
"""
from __future__ import annotations

from typing import Any

import faust
from faust.types import TableT

__all__ = ["SeriesCounters", "pack", "unpack"]


def pack(sequence: int, series: str, invoice: bytes) -> bytes:
    return b"%d|%s|" % (sequence, series.encode()) + invoice


def unpack(value: bytes) -> tuple[int, str, bytes]:
    seq, series, invoice = value.split(b"|", 2)
    return int(seq), series.decode(), invoice


class SeriesCounters:
    """Per series, the last sequence issued (a cache of the ``issued`` table)."""

    def __init__(self, issued: TableT[bytes, bytes]) -> None:
        self.issued = issued
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
            self._last[series] = top
        self._last[series] += 1
        return self._last[series]

    def discard(self, series: str) -> None:
        """The number taken was not used: recompute *series* from the table next time."""
        self._last.pop(series, None)
