"""Batch billing: cycles accumulate orders per (customer, cycle) and close idempotently."""
from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from infra.broker import ensure_topics
from domain.codec import decode, encode
from invoicing.cycle_cli import send_close
from infra.dead_letters import replay as dlq_replay
from domain.cycles import cycle_for, next_cycle, parse_cycle
from domain.errors import ConfigError
from infra.reference_store import publish_reference
from domain.settings import Settings
from sources.canonical import order_event, order_line, party
from tests.support import REPO, WorkerProcess, read_topic, settings_env, unique_settings, wait_until

UTC = timezone.utc


# -- cycle arithmetic ----------------------------------------------------------------------

def test_monthly_cycle_in_the_customers_time_zone() -> None:
    spec = parse_cycle({"frequency": "monthly", "day": 15, "timezone": "Europe/Berlin"})
    c = cycle_for(spec, datetime(2026, 11, 24, 12, tzinfo=UTC))
    assert c.cycle_id == "M2026-11-15"
    assert c.start == datetime(2026, 11, 14, 23, tzinfo=UTC) and c.end == datetime(2026, 12, 14, 23, tzinfo=UTC)
    # 23:30 UTC on the 14th is already the 15th in Berlin: the next cycle
    assert cycle_for(spec, datetime(2026, 11, 14, 23, 30, tzinfo=UTC)).cycle_id == "M2026-11-15"
    assert cycle_for(spec, datetime(2026, 11, 14, 22, 30, tzinfo=UTC)).cycle_id == "M2026-10-15"
    assert next_cycle(spec, c).cycle_id == "M2026-12-15"
    dec = cycle_for(spec, datetime(2026, 12, 20, tzinfo=UTC))
    assert next_cycle(spec, dec).cycle_id == "M2027-01-15"


def test_semi_monthly_and_weekly_cycles() -> None:
    semi = parse_cycle({"frequency": "semi-monthly", "timezone": "America/Chicago"})
    first = cycle_for(semi, datetime(2026, 11, 10, tzinfo=UTC))
    assert first.cycle_id == "S2026-11-01" and next_cycle(semi, first).cycle_id == "S2026-11-16"
    assert next_cycle(semi, next_cycle(semi, first)).cycle_id == "S2026-12-01"
    assert first.start == datetime(2026, 11, 1, 5, tzinfo=UTC), "CDT until 2 am on 1 November"
    assert first.end == datetime(2026, 11, 16, 6, tzinfo=UTC), "CST afterwards"
    weekly = parse_cycle({"frequency": "weekly", "day": 4, "timezone": "UTC"})
    c = cycle_for(weekly, datetime(2026, 11, 24, tzinfo=UTC))  # a Tuesday
    assert c.start == datetime(2026, 11, 20, tzinfo=UTC) and c.end - c.start == timedelta(days=7)


def test_bad_cycle_configuration_is_refused() -> None:
    for bad in ({"frequency": "yearly"}, {"frequency": "monthly", "day": 31}, {"timezone": "Mars/Olympus"}):
        with pytest.raises(ConfigError):
            parse_cycle(bad)


# -- the stream ----------------------------------------------------------------------------

CUSTOMERS = 50
ORDERS = 1000


def reference_file(tmp_path: Path, customers: int = CUSTOMERS) -> Path:
    data = yaml.safe_load((REPO / "demo" / "data" / "reference.yaml").read_text())
    data["defaults"]["targets"] = []
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
    data["customers"] = [{
        "customer_id": f"B2B-{i:03d}", "name": f"Kunde {i} GmbH", "email": f"ap{i}@example.de",
        "vat_id": None, "external_ids": [f"erp:{i}"], "invoice_policy": "CYCLE", "payment_terms": "NET30",
        "billing_cycle": {"frequency": "monthly", "day": 1, "timezone": zones[i % 4]},
        "split_by_po": i % 10 == 0, "targets": [],
        "address": {"line1": f"Werkstrasse {i}", "city": "Hamburg", "postal_code": "20457", "country": "DE"},
    } for i in range(customers)]
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def make_order(n: int, customer: int, occurred: datetime, currency: str = "EUR", po: str | None = None) -> dict[str, Any]:
    raw = {"platform": "erp", "event_type": "order.completed", "received_at": occurred}
    return order_event(
        raw, event_id=f"evt-{n}", trigger="SHIPMENT_CONFIRMED", external_order_id=f"SO-{n}",
        occurred_at=occurred, customer_ref=f"erp:{customer}", customer=party(f"Kunde {customer} GmbH", country="DE"),
        currency=currency, purchase_order=po,
        lines=[order_line("Oil filter element", 1 + n % 3, "89.95", sku="KS-FLT-01"),
               order_line("Service technician, hourly rate", "1.5", "96.00", sku="KS-SRV-H")],
    )


async def send_orders(bootstrap: str, settings: Settings, orders: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        for o in orders:
            await producer.send(settings.topic("invoicing.orders"), encode("order_event", o), key=o["order_key"].encode())
        await producer.flush()
    finally:
        await producer.stop()


async def send_to_cycles(bootstrap: str, settings: Settings, orders: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for o in orders:
            customer = f"B2B-{int(o['customer_ref'].split(':')[1]):03d}"
            await producer.send_and_wait(settings.topic("invoicing.cycle-orders"), encode("order_event", o),
                                         key=customer.encode(), headers=[("kind", b"order")])
    finally:
        await producer.stop()


async def invoices(bootstrap: str, settings: Settings) -> dict[bytes, dict[str, Any]]:
    msgs = await read_topic(bootstrap, settings.topic("invoices"), timeout=5, idle=0.5)
    return {m.key: decode("invoice", m.value) for m in msgs}


Group = tuple[str, str, str | None]


async def billing_month(bootstrap: str, tmp_path: Path, customers: int = CUSTOMERS, count: int = ORDERS,
                        ) -> tuple[Settings, list[dict[str, Any]], list[dict[str, Any]], dict[Group, set[str]]]:
    """Topics and reference data for *customers* cycle customers, and *count* orders of November (some in
    USD, some split by purchase order): (settings, orders, orders as sent with 50 redeliveries, expected
    invoice groups)."""
    settings = unique_settings(tmp_path, cycle_check_interval=3600.0)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, reference_file(tmp_path, customers))
    rng = random.Random(11)
    start = datetime(2026, 11, 2, 12, tzinfo=UTC)
    orders = []
    for n in range(count):
        cust = n % customers
        currency = "USD" if cust % 7 == 0 and n % 2 else "EUR"
        po = f"PO-{cust}-{n % 2}" if cust % 10 == 0 else None
        orders.append(make_order(n, cust, start + timedelta(hours=rng.randrange(0, 24 * 25)), currency, po))
    sent = orders + rng.sample(orders, min(50, count))  # redeliveries
    rng.shuffle(sent)
    expected_groups: dict[Group, set[str]] = defaultdict(set)
    for o in orders:
        cust = int(o["customer_ref"].split(":")[1])
        expected_groups[(f"B2B-{cust:03d}", o["currency"], o["purchase_order"] if cust % 10 == 0 else None)].add(o["order_key"])
    return settings, orders, sent, expected_groups


def check_cycle_invoices(got: dict[bytes, dict[str, Any]], expected_groups: dict[Group, set[str]], count: int = ORDERS) -> None:
    """Exactly one invoice per (customer, currency, PO when split) with exactly its orders; numbers without holes."""
    assert len(got) == len(expected_groups), "exactly one invoice per (customer, currency, PO when split)"
    actual = {(inv["customer_id"], inv["currency"], inv["purchase_order"]): set(inv["orders"]) for inv in got.values()}
    diff = {k: (sorted(expected_groups.get(k, set()) - actual.get(k, set())), sorted(actual.get(k, set()) - expected_groups.get(k, set())))
            for k in set(actual) | set(expected_groups) if actual.get(k) != expected_groups.get(k)}
    assert not diff, f"(missing, extra) orders per invoice: {diff}"
    billed = Counter(o for inv in got.values() for o in inv["orders"])
    assert len(billed) == count and set(billed.values()) == {1}
    for inv in got.values():
        assert inv["trigger"] == "CYCLE_END"
        assert inv["total"] == sum((ln["net_amount"] for ln in inv["lines"]), Decimal(0)) + inv["tax_total"]
    seqs = sorted(inv["sequence"] for inv in got.values())
    assert seqs == list(range(1, len(seqs) + 1)), "no holes, no duplicates"


@pytest.mark.slow
@pytest.mark.parametrize("disruption", [
    # SIGTERM while the close is running; after the restart nothing asks for a close again: the
    # close command whose processing was cut short must be processed again, not skipped
    pytest.param("stop", id="worker-stopped-during-close"),
    # SIGKILL while the close is running (no shutdown, no final commit); then the close is sent
    # again, as the worker's timer does (twice at once: a timer that fires twice)
    pytest.param("kill", id="worker-killed-during-close"),
])
async def test_cycle_of_1000_orders_closes_into_one_invoice_per_customer_and_currency(bootstrap: str, tmp_path: Path,
                                                                                      disruption: str) -> None:
    settings, orders, sent, expected_groups = await billing_month(bootstrap, tmp_path)
    env = {"INVOICING_CYCLE_CHECK_INTERVAL": "3600", "INVOICING_LOG_LEVEL": "INFO"}  # INFO: the close decisions are logged
    worker = WorkerProcess(settings, bootstrap, env=env).start()
    try:
        await send_orders(bootstrap, settings, sent)
        assert await wait_until(lambda: worker.metric("invoicing_order_state_updates_total", kind="accumulated") >= ORDERS,
                                timeout=120), worker.log()[-2000:]
        assert not await invoices(bootstrap, settings), "nothing is invoiced before the cycle ends"
        at = datetime(2026, 12, 2, tzinfo=UTC)  # after every customer's 1 December midnight
        await send_close(settings, bootstrap, at=at)
        assert await wait_until(lambda: _has_invoices(bootstrap, settings), timeout=60, interval=0.05)
        if disruption == "kill":
            worker.kill()  # in the middle of closing (or just after): nothing may be lost or doubled
        else:
            worker.stop()
        first_run = len(await invoices(bootstrap, settings))
    finally:
        worker.stop()
    restarted = WorkerProcess(settings, bootstrap, env=env).start()
    try:
        if disruption == "kill":
            await send_close(settings, bootstrap, at=at)  # the close is repeated after the crash
            await send_close(settings, bootstrap, at=at)  # and once more: a timer that fires twice
        got: dict[bytes, dict[str, Any]] = {}

        async def complete() -> bool:
            nonlocal got
            got = await invoices(bootstrap, settings)
            return len(got) >= len(expected_groups)

        assert await wait_until(complete, timeout=90, interval=2.0), (
            f"{len(got)} of {len(expected_groups)} invoices ({first_run} before the {disruption})",
            restarted.metric("invoicing_open_cycles"), restarted.metric("invoicing_invoices_issued_total"),
            restarted.metric("invoicing_dead_letters_total"),
            [m.value[:300] for m in await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=3, idle=0.5)],
            restarted.log()[-3000:])
        await asyncio.sleep(2)
        got = await invoices(bootstrap, settings)
        check_cycle_invoices(got, expected_groups)
        # the bill agent re-sends some orders to the cycles agent (its output replayed after a crash):
        # they are already placed, so they must not be billed again in the next cycle
        await send_to_cycles(bootstrap, settings, orders[:5])
        await asyncio.sleep(3)
        assert await wait_until(lambda: restarted.metric("invoicing_open_cycles") == 0, timeout=10), (
            restarted.metric("invoicing_open_cycles"), restarted.metric("invoicing_open_cycle_orders"),
            restarted.metric("invoicing_order_state_updates_total", kind="accumulated"))
        assert restarted.metric("invoicing_open_cycle_orders") == 0

        # late orders: their cycle is closed, so they go into the next one
        late = [make_order(5000 + i, i, datetime(2026, 11, 20, tzinfo=UTC)) for i in range(3)]
        await send_orders(bootstrap, settings, late)
        assert await wait_until(lambda: restarted.metric("invoicing_open_cycle_orders") >= 3, timeout=60)
        await send_close(settings, bootstrap, at=at)
        await asyncio.sleep(3)
        assert len(await invoices(bootstrap, settings)) == len(expected_groups), "the next cycle has not ended yet"
        await send_close(settings, bootstrap, at=datetime(2027, 1, 2, tzinfo=UTC))
        assert await wait_until(lambda: _count(bootstrap, settings, len(expected_groups) + 3), timeout=60)
        newest = [inv for inv in (await invoices(bootstrap, settings)).values() if inv["orders"][0].startswith("erp:SO-50")]
        assert sorted(inv["orders"][0] for inv in newest) == sorted(o["order_key"] for o in late)
    finally:
        restarted.stop()


async def _has_invoices(bootstrap: str, settings: Settings) -> bool:
    return bool(await read_topic(bootstrap, settings.topic("invoices"), count=1, timeout=1))


async def _count(bootstrap: str, settings: Settings, n: int) -> bool:
    return len(await invoices(bootstrap, settings)) >= n


@pytest.mark.slow
async def test_a_worker_joining_during_the_close_neither_doubles_nor_loses(bootstrap: str, tmp_path: Path) -> None:
    """A second worker joins while the first is closing: the group rebalances in the middle of the close
    (cycle, order and numbering partitions move between them). Still one invoice per group, numbered
    without holes or duplicates, and a later close issues nothing more. 400 customers, so that the close
    lasts longer than the second worker takes to start and join."""
    from invoicing.audit_cli import audit_topic

    customers, count = 400, 1200
    settings, _orders, sent, expected_groups = await billing_month(bootstrap, tmp_path, customers, count)
    env = {"INVOICING_CYCLE_CHECK_INTERVAL": "3600", "INVOICING_LOG_LEVEL": "INFO"}
    first = WorkerProcess(settings, bootstrap, env=env).start()
    second = WorkerProcess(settings, bootstrap, env=env)
    try:
        await send_orders(bootstrap, settings, sent)
        assert await wait_until(lambda: first.metric("invoicing_order_state_updates_total", kind="accumulated") >= count,
                                timeout=120), first.log()[-2000:]
        at = datetime(2026, 12, 2, tzinfo=UTC)
        second.start()
        # the second has read its reference data: it asks to join the group in well under a second, while
        # the first is closing (the close of 400 customers lasts several seconds)
        assert await wait_until(lambda: "reference data loaded" in second.log(), timeout=60, interval=0.02)
        await send_close(settings, bootstrap, at=at)
        got: dict[bytes, dict[str, Any]] = {}

        async def complete() -> bool:
            nonlocal got
            got = await invoices(bootstrap, settings)
            return len(got) >= len(expected_groups)

        assert await wait_until(complete, timeout=120, interval=2.0), (
            f"{len(got)} of {len(expected_groups)} invoices", first.log()[-2000:], second.log()[-2000:])
        assert "left for the partition's next owner" in first.log() + second.log(), "the rebalance came during the close"
        await send_close(settings, bootstrap, at=at)  # the timer fires again: nothing more
        await asyncio.sleep(4)
        got = await invoices(bootstrap, settings)
        check_cycle_invoices(got, expected_groups, count)
        report = await audit_topic(settings, bootstrap)
        assert report.ok, report.text()
    finally:
        first.stop()
        second.stop()


def cycle_close(settings: Settings, bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`invoicing cycle close ARGS` as an operator runs it, configured by the environment."""
    return subprocess.run([sys.executable, "-m", "invoicing", "cycle", "close", *args], capture_output=True, text=True,
                          env={**os.environ, **settings_env(settings, bootstrap)}, timeout=60)


@pytest.mark.slow
async def test_cycle_close_command_closes_one_customer_or_all(bootstrap: str, tmp_path: Path) -> None:
    """The operator's command: `--customer` closes that customer's ended cycles only, `--at` sets what has
    ended (a cycle not yet ended at that time stays open), and a bad time is refused with nothing sent."""
    settings, orders, sent, expected_groups = await billing_month(bootstrap, tmp_path, customers=3, count=9)
    worker = WorkerProcess(settings, bootstrap, env={"INVOICING_CYCLE_CHECK_INTERVAL": "3600"}).start()
    try:
        await send_orders(bootstrap, settings, sent)
        assert await wait_until(lambda: worker.metric("invoicing_open_cycle_orders") == 9, timeout=60), worker.log()[-2000:]
        bad = cycle_close(settings, bootstrap, "--at", "the first of December")
        assert bad.returncode != 0 and "--at 'the first of December' is not an ISO 8601 time" in bad.stderr, bad.stderr
        # 30 November 12:00 UTC: November has not ended anywhere yet, so nothing closes
        early = cycle_close(settings, bootstrap, "--customer", "B2B-001", "--at", "2026-11-30T12:00:00Z")
        assert early.returncode == 0, early.stderr
        assert "sent to customer B2B-001" in early.stdout
        done = cycle_close(settings, bootstrap, "--customer", "B2B-001", "--at", "2026-12-02T00:00:00Z")
        assert done.returncode == 0, done.stderr
        assert await wait_until(lambda: _count(bootstrap, settings, 1), timeout=60), worker.log()[-2000:]
        await asyncio.sleep(2)
        got = await invoices(bootstrap, settings)
        assert {inv["customer_id"] for inv in got.values()} == {"B2B-001"}, "only that customer's cycle closed"
        assert [set(inv["orders"]) for inv in got.values()] == [expected_groups[("B2B-001", "EUR", None)]]
        assert worker.metric("invoicing_open_cycles") == 2 and worker.metric("invoicing_open_cycle_orders") == 6
        everyone = cycle_close(settings, bootstrap, "--at", "2026-12-02T00:00:00Z")
        assert everyone.returncode == 0 and "partition(s)" in everyone.stdout, everyone.stderr
        assert await wait_until(lambda: _count(bootstrap, settings, len(expected_groups)), timeout=60)
        await asyncio.sleep(2)
        check_cycle_invoices(await invoices(bootstrap, settings), expected_groups, count=9)
        assert worker.metric("invoicing_open_cycles") == 0
    finally:
        worker.stop()


@pytest.mark.slow
async def test_a_customer_whose_cycle_cannot_be_invoiced_does_not_hold_up_the_others(bootstrap: str, tmp_path: Path) -> None:
    """The close of one partition's customers in one command: a customer whose invoice cannot be built (a
    One-Stop-Shop sale to a French consumer of a product with its own rate and none for France) is
    parked with the reason; the customers after it on the partition are invoiced all the same. Once
    the reference data has the rate, the next close invoices that customer too."""
    from domain.codec import decode as decode_any_record
    from streams.channels import partition_of

    settings = unique_settings(tmp_path, cycle_check_interval=3600.0)
    await ensure_topics(settings, bootstrap)
    ref_path = reference_file(tmp_path, 40)
    data = yaml.safe_load(ref_path.read_text())
    bad = "B2B-001"
    # customers on the bad one's partition, which the close visits after it (its orders come first)
    peers = [c for c in (f"B2B-{i:03d}" for i in range(2, 40))
             if partition_of(c.encode(), settings.partitions) == partition_of(bad.encode(), settings.partitions)][:3]
    assert peers, "no customer shares the partition"
    data["sellers"][0]["eu_oss"] = True
    for c in data["customers"]:
        if c["customer_id"] == bad:
            c["address"]["country"] = "FR"
    data["products"] = [dict(p, tax_rate="19") if p["sku"] == "KS-FLT-01" else p for p in data["products"]]
    ref_path.write_text(yaml.safe_dump(data, allow_unicode=True))
    await publish_reference(settings, bootstrap, ref_path)
    start = datetime(2026, 11, 3, 9, tzinfo=UTC)
    orders = [make_order(900 + k, 1, start + timedelta(hours=k)) for k in range(2)]
    orders += [make_order(950 + k, int(c[4:]), start + timedelta(days=1, hours=k)) for k, c in enumerate(peers)]
    worker = WorkerProcess(settings, bootstrap, env={"INVOICING_CYCLE_CHECK_INTERVAL": "3600"}).start()
    try:
        await send_orders(bootstrap, settings, orders[:2])
        assert await wait_until(lambda: worker.metric("invoicing_open_cycle_orders") == 2, timeout=60), worker.log()[-2000:]
        await send_orders(bootstrap, settings, orders[2:])
        assert await wait_until(lambda: worker.metric("invoicing_open_cycle_orders") == len(orders), timeout=60)
        await send_close(settings, bootstrap, at=datetime(2026, 12, 2, tzinfo=UTC))
        assert await wait_until(lambda: _count(bootstrap, settings, len(peers)), timeout=60), worker.log()[-2000:]
        await asyncio.sleep(2)
        got = await invoices(bootstrap, settings)
        assert sorted(inv["customer_id"] for inv in got.values()) == sorted(peers)
        letters = [decode_any_record("dead_letter", m.value)
                   for m in await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=5, idle=0.5)]
        assert [(d["stage"], d["key"], d["kind"]) for d in letters] == [("cycles", bad.encode(), "close")]
        assert "customer B2B-001" in letters[0]["reason"] and "needs its FR rate" in letters[0]["reason"]
        assert worker.metric("invoicing_open_cycles") == 1, "the parked customer's cycle stays open"
        # the rate is added to the reference data; replaying the dead letter closes that customer's cycle
        # (the replay carries the `close` kind again: without it the command would be taken for an order)
        data["products"] = [dict(p, tax_rates={"FR": "20"}) if p["sku"] == "KS-FLT-01" else p for p in data["products"]]
        ref_path.write_text(yaml.safe_dump(data, allow_unicode=True))
        await publish_reference(settings, bootstrap, ref_path)
        await asyncio.sleep(2)
        assert await dlq_replay(settings, bootstrap, stage="cycles") == 1
        assert await wait_until(lambda: _count(bootstrap, settings, len(peers) + 1), timeout=60), worker.log()[-2000:]
        late = [inv for inv in (await invoices(bootstrap, settings)).values() if inv["customer_id"] == bad]
        assert len(late) == 1 and sorted(late[0]["orders"]) == sorted(o["order_key"] for o in orders[:2])
        assert {(g["category"], g["rate"]) for g in late[0]["tax_breakdown"]} >= {("S", Decimal("20"))}
        assert worker.metric("invoicing_open_cycles") == 0
        assert worker.metric("invoicing_dead_letters_total", stage="cycles") == 1, "the replay did not fail again"
        # a command parked by another agent keeps its kind from the message's header: a credit request
        # for an invoice this worker never issued
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic("invoicing.issue-requests"), json.dumps(
                {"invoice_id": "inv_never", "order_key": "erp:SO-1", "reason": "cancelled", "lineage": []}).encode(),
                key=b"kompressor-de/INVOICE", headers=[("kind", b"credit")])
        finally:
            await producer.stop()
        assert await wait_until(lambda: worker.metric("invoicing_dead_letters_total", stage="credit") == 1, timeout=30)
        letters = [decode_any_record("dead_letter", m.value)
                   for m in await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=5, idle=0.5)]
        assert [(d["stage"], d["kind"]) for d in letters if d["stage"] == "credit"] == [("credit", "credit")]
    finally:
        worker.stop()
