"""The ``register_receipts`` agent alone (Faust test context, in-memory transport): receipts into the register."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import faust

from domain.codec import encode
from sinks.register import get_by_number, open_register, record_invoice, row_counts
from domain.settings import Settings
from domain.topics import Topics
from streams import topology
from tests.support import sample_invoice


class FakePipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.app = faust.App(f"test-{uuid.uuid4().hex[:8]}", broker="kafka://127.0.0.1:9", store="memory://",
                             autodiscover=False, web_enabled=False)
        self.dead: list[Any] = []

    async def ready(self) -> None:
        return None

    async def dead_letter(self, event: Any, *, stage: str, error: Any, **kw: Any) -> None:
        self.dead.append((stage, str(error)))


async def test_receipts_are_recorded_once(register_settings: Settings) -> None:
    settings = register_settings.model_copy(update={"register_receipts": True})
    p = FakePipeline(settings)
    topology.bind_agent(p, next(a for a in topology.AGENTS if a.name == "register_receipts"))  # type: ignore[arg-type]
    agent = next(a for a in p.app.agents.values() if a.name.endswith("register_receipts"))
    inv = sample_invoice(31, targets=("folder", "email"))
    engine = open_register(settings)
    record_invoice(engine, inv)
    receipts = [encode("delivery_receipt", {
        "invoice_id": inv["invoice_id"], "number": inv["number"], "target": t, "status": "DELIVERED",
        "external_id": f"x-{t}", "attempts": 1, "at": datetime(2026, 11, 24, 9, 1, tzinfo=timezone.utc), "detail": None})
        for t in ("folder", "email")]
    async with agent.test_context() as ctx:
        for _ in range(2):  # a replayed topic
            for value in receipts:
                await ctx.put(value, key=inv["invoice_id"].encode())
        await ctx.put(b"not avro", key=b"junk")
        for _ in range(50):
            if row_counts(engine)["delivery_receipts"] == 2 and p.dead:
                break
            await asyncio.sleep(0.1)
    assert row_counts(engine)["delivery_receipts"] == 2
    assert get_by_number(engine, inv["number"])["status"] == "DELIVERED"  # type: ignore[index]
    assert p.dead and p.dead[0][0] == "register"


def test_off_when_told(tmp_path: Path) -> None:
    settings = Settings(register_receipts=False, register_path=tmp_path / "r.db", data_dir=tmp_path / "state")
    agents = {a.split(".")[-1] for a in topology.build(settings, "127.0.0.1:9").app.agents}
    assert "register_receipts" not in agents and "deliver" in agents
