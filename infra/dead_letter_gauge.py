"""``invoicing_dead_letters_pending{stage,target}``: dead letters nobody has replayed yet.

Counted from the dead-letter topic and the compacted ``dead-letters.replayed`` topic, exactly as
`invoicing dlq list` shows them (`infra.dead_letters.read_dead_letters`), every ``ops_check_interval``
seconds by each worker. The stage is the dead letter's stage without its target (``deliver:xero`` →
stage ``deliver``, target ``xero``); target is ``""`` when there is none. Every worker reports the
same topic, so dashboards and alerts take ``max by (stage, target)``. The topic is read whole each
time: dead letters are exceptions, and a pile of them is itself what the alert is for.
"""
from __future__ import annotations

from collections import Counter

from infra.dead_letters import read_dead_letters
from domain.metrics import DEAD_LETTERS_PENDING
from domain.settings import Settings

__all__ = ["pending_counts", "PendingDeadLetters"]


async def pending_counts(settings: Settings, bootstrap: str) -> dict[tuple[str, str], int]:
    """(stage, target) → dead letters not replayed."""
    counts: Counter[tuple[str, str]] = Counter()
    for entry in await read_dead_letters(settings, bootstrap):
        if entry.replayed:
            continue
        stage = str(entry.record.get("stage") or "?")
        target = entry.record.get("target") or (stage.split(":", 1)[1] if ":" in stage else "")
        counts[(stage.split(":", 1)[0], str(target))] += 1
    return dict(counts)


class PendingDeadLetters:
    """Sets the gauge; a (stage, target) whose dead letters were all replayed shows 0, then disappears on restart."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self._shown: set[tuple[str, str]] = set()

    async def update(self) -> dict[tuple[str, str], int]:
        counts = await pending_counts(self.settings, self.bootstrap)
        for stage, target in self._shown - set(counts):
            DEAD_LETTERS_PENDING.labels(stage, target).set(0)
        for (stage, target), n in counts.items():
            DEAD_LETTERS_PENDING.labels(stage, target).set(n)
        self._shown |= set(counts)
        return counts
