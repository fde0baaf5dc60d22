"""streams.acking.guarded: an unexpected error parks the event (retriable, with the reason) and the agent
goes on; a cancellation is not an error and passes through, leaving the event to be processed again."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from domain.reasons import plain_reason
from streams.acking import guarded


class Parked:
    def __init__(self) -> None:
        self.letters: list[dict[str, Any]] = []

    async def dead_letter(self, event: Any, **kw: Any) -> None:
        self.letters.append({"event": event, **kw})


EVENT = SimpleNamespace(message=SimpleNamespace(topic="t.invoicing.orders", partition=1, offset=42))


async def test_unexpected_error_is_parked_with_its_reason_and_does_not_escape() -> None:
    p = Parked()
    reached_after = False
    async with guarded(p, EVENT, "bill"):
        raise ZeroDivisionError("division by zero in a price")
    reached_after = True
    assert reached_after
    (letter,) = p.letters
    assert letter["event"] is EVENT and letter["stage"] == "bill" and letter["retriable"] is True
    assert isinstance(letter["error"], ZeroDivisionError) and str(letter["error"]) == "division by zero in a price"
    reason = plain_reason(letter["error"], what="the message ord-1")
    assert "ZeroDivisionError" not in reason and "ord-1" in reason and "cannot be used" in reason, reason


async def test_cancellation_passes_through_and_parks_nothing() -> None:
    p = Parked()
    with pytest.raises(asyncio.CancelledError):
        async with guarded(p, EVENT, "cycles"):
            raise asyncio.CancelledError()
    assert p.letters == []


async def test_a_clean_pass_parks_nothing() -> None:
    p = Parked()
    async with guarded(p, EVENT, "issue"):
        pass
    assert p.letters == []


# -- OffsetGuard decisions (the real-broker behaviour is in tests/streams/test_offset_guard.py) -------------

from streams.acking import OffsetGuard, Verdict  # noqa: E402


class Consumer:
    """What the guard reads and calls on Faust's consumer."""

    def __init__(self, committed: dict[Any, int]) -> None:
        self._committed_offset = dict(committed)
        self._read_offset: dict[Any, int] = {}
        self.seeks: list[dict[Any, int]] = []

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        self.seeks.append(dict(partitions))


class Guard(OffsetGuard):
    log_start: int | None = None

    async def _log_start(self, tp: Any) -> int | None:
        return self.log_start


TP = ("t.orders", 0)


def msg(offset: int, generation: int = 1) -> Any:
    return SimpleNamespace(tp=TP, topic=TP[0], partition=TP[1], offset=offset, generation_id=generation)


def guard(committed: int | None = 10) -> Guard:
    app = SimpleNamespace(consumer=Consumer({TP: committed} if committed is not None else {}))
    return Guard(app, reread_interval=60.0)


def test_starts_at_the_committed_offset_and_skips_what_came_before() -> None:
    g = guard(committed=10)
    assert g.admit("bill", msg(9)) is Verdict.SKIP, "below the committed offset: processed before"
    assert g.admit("bill", msg(10)) is Verdict.PROCESS
    g.done("bill", msg(10))
    assert g.admit("bill", msg(10)) is Verdict.SKIP, "delivered again after a seek"
    assert g.admit("bill", msg(11)) is Verdict.PROCESS


async def test_a_hole_holds_the_record_and_reads_the_partition_again_once() -> None:
    g = guard(committed=10)
    g.done("bill", msg(10))
    assert g.admit("bill", msg(14)) is Verdict.HOLD
    assert await g.hold("bill", msg(14)) is Verdict.HOLD
    assert await g.hold("bill", msg(15)) is Verdict.HOLD
    assert g.app.consumer.seeks == [{TP: 11}], "one re-read, from the first missing offset"
    assert g.app.consumer._read_offset[TP] == 11, "records queued before the re-read do not hide it"
    assert g.admit("bill", msg(11)) is Verdict.PROCESS
    assert g.partitions[("bill", TP)].reread_from is None


async def test_records_deleted_by_retention_are_passed_over() -> None:
    g = guard(committed=10)
    g.reread_interval = 0.0
    g.log_start = 14  # the log starts after the committed offset: 10..13 are gone
    assert await g.hold("bill", msg(14)) is Verdict.HOLD, "first, a re-read"
    assert await g.hold("bill", msg(14)) is Verdict.PROCESS, "then the log start shows they are gone"
    g2 = guard(committed=10)
    g2.reread_interval = 0.0
    g2.log_start = 0  # the records exist: keep asking, never pass over them
    for _ in range(5):
        assert await g2.hold("bill", msg(14)) is Verdict.HOLD
    assert g2.app.consumer.seeks == [{TP: 10}] * 5


def test_a_new_generation_starts_again_from_the_committed_offset() -> None:
    g = guard(committed=10)
    g.done("bill", msg(10))
    g.done("bill", msg(11))
    g.app.consumer._committed_offset[TP] = 11  # another member committed up to 11 after the rebalance
    assert g.admit("bill", msg(11, generation=2)) is Verdict.PROCESS
    assert g.admit("issue", msg(3)) is Verdict.SKIP, "each agent keeps its own position"
