"""`invoicing dlq list | replay`: the dead-letter topic for an operator (`infra.dead_letters` reads
and replays it)."""
from __future__ import annotations

import json

from domain.jsonify import to_jsonable
from domain.settings import Settings
from infra.dead_letters import matches, read_dead_letters, replay

__all__ = ["list_command", "replay_command"]


async def list_command(settings: Settings, bootstrap: str, *, as_json: bool, stage: str | None, target: str | None) -> int:
    entries = [e for e in await read_dead_letters(settings, bootstrap) if matches(e.record, stage, target)]
    if as_json:
        rows = [{"position": e.position, "replayed": e.replayed,
                 **{k: v for k, v in to_jsonable(e.record).items() if k not in ("value",)}} for e in entries]
        print(json.dumps(rows, indent=2))
        return 0
    if not entries:
        print("no dead letters")
        return 0
    for e in entries:
        r = e.record
        where = r.get("target") or r.get("platform") or ""
        print(f"{e.position:>8}  {'replayed' if e.replayed else 'pending ':8}  {r.get('stage', ''):<18} {where:<14} {r.get('reason', '')}")
    return 0


async def replay_command(settings: Settings, bootstrap: str, *, stage: str | None, target: str | None) -> int:
    n = await replay(settings, bootstrap, stage=stage, target=target)
    print(f"replayed {n} dead letter(s)")
    return 0
