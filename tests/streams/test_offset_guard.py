"""streams.acking: each record reaches the agent once, in offset order, even when the consumer loses some.

A real Faust worker on the real broker (`tests/streams/guard_app.py`) loses records the way Faust did (its
stream queue emptied while the consumer had moved past them); the guard reads them again.
Without the guard the same fault loses them, which shows the fault is real.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support import REPO, wait_until

pytestmark = pytest.mark.slow

RECORDS = 20


async def topic_with_records(bootstrap: str, n: int) -> str:
    topic = f"guard-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, b"record-%d" % i, key=b"k", partition=0)
    finally:
        await producer.stop()
    return topic


def run_app(bootstrap: str, topic: str, out: Path, fault: str, *flags: str) -> subprocess.Popen[bytes]:
    log = open(out.with_suffix(".log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "tests.streams.guard_app", bootstrap, topic, str(out), fault, str(RECORDS), *flags],
                            cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def processed(out: Path) -> list[int]:
    return [int(line) for line in out.read_text().split()] if out.exists() else []


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("fault, total", [
    ("none", RECORDS),
    ("drop-then-more", RECORDS + 10),  # the next record to arrive shows the hole: read again at once
    ("drop", RECORDS),  # nothing arrives after the hole: the stall check finds it
])
async def test_lost_records_are_read_again_in_order(bootstrap: str, tmp_path: Path, fault: str, total: int) -> None:
    topic = await topic_with_records(bootstrap, RECORDS)
    out = tmp_path / "processed.txt"
    proc = run_app(bootstrap, topic, out, fault)
    try:
        done = await wait_until(lambda: len(processed(out)) >= total, timeout=60, interval=0.2)
        await asyncio.sleep(1.5)  # anything processed twice would show up now
        log = out.with_suffix(".log").read_text(errors="replace")
        assert done, (processed(out), log[-3000:])
        assert processed(out) == list(range(total)), "each record once, in offset order"
        if fault != "none":
            assert "reading" in log and "again" in log, log[-2000:]
    finally:
        stop(proc)


async def test_without_the_guard_the_same_fault_loses_records(bootstrap: str, tmp_path: Path) -> None:
    topic = await topic_with_records(bootstrap, RECORDS)
    out = tmp_path / "processed.txt"
    proc = run_app(bootstrap, topic, out, "drop", "unguarded")
    try:
        assert await wait_until(lambda: 5 in processed(out), timeout=60, interval=0.2)
        await asyncio.sleep(6)  # three times the guard's stall limit
        got = processed(out)
        assert set(range(RECORDS)) - set(got), f"the fault lost nothing: {got}"
    finally:
        stop(proc)


async def test_batches_too_are_read_in_order_without_holes(bootstrap: str, tmp_path: Path) -> None:
    topic = await topic_with_records(bootstrap, RECORDS)
    out = tmp_path / "processed.txt"
    total = RECORDS + 10
    proc = run_app(bootstrap, topic, out, "drop-then-more", "batches")
    try:
        assert await wait_until(lambda: len(processed(out)) >= total, timeout=60, interval=0.2), processed(out)
        await asyncio.sleep(1.5)
        assert processed(out) == list(range(total)), "each record once, in offset order"
    finally:
        stop(proc)


@pytest.mark.parametrize("guarded", [True, False], ids=["processed_batches", "faust-take_events"])
async def test_a_batch_cut_short_by_a_stop_is_processed_after_the_restart(bootstrap: str, tmp_path: Path,
                                                                          guarded: bool) -> None:
    """SIGTERM while a batch is being recorded: the batch was not recorded, so it must be read again after
    the restart. Faust's own take_events acknowledges it when it is cancelled, and it is lost."""
    topic = await topic_with_records(bootstrap, RECORDS)
    out = tmp_path / "processed.txt"
    flags = ("batches",) if guarded else ("batches", "unguarded")
    first = run_app(bootstrap, topic, out, "slow-first-batch", *flags)
    try:
        assert await wait_until(lambda: Path(f"{out}.started").exists(), timeout=60, interval=0.1)
        await asyncio.sleep(1.5)  # the other records are fetched and waiting behind the slow batch
    finally:
        stop(first)  # SIGTERM: Faust cancels the agent, commits and leaves the group
    second = run_app(bootstrap, topic, out, "none", *flags)
    try:
        assert await wait_until(lambda: set(range(5, RECORDS)) <= set(processed(out)), timeout=45, interval=0.2)
        await asyncio.sleep(2.0)  # the first batch would have come back by now
        if guarded:
            assert sorted(processed(out)) == list(range(RECORDS)), "each record recorded once"
        else:
            assert set(range(RECORDS)) - set(processed(out)), "take_events lost the batch"
    finally:
        stop(second)
