"""Agent ``cycles``: batch billing for B2B customers on a billing cycle.

The ``bill`` agent sends every billable order of a cycle customer here, keyed by
customer, so one partition holds all of a customer's cycles. Orders accumulate per
(customer, cycle) in plain tables: ``cycles`` holds one JSON value per customer with
every cycle's state, ``cycle_orders`` the order bodies. Faust windowed tables are not
used (their state is lost with RocksDB after recovery).

Closing is a command on the same topic (``kind: close``, ``{"at": ISO time}``), sent
to every partition by a worker timer and by `invoicing cycle close`. Closing a cycle
that ended: one consolidated invoice per (currency, purchase order when the customer
splits by PO), each with a deterministic invoice id, sent to the issue agent; then the
cycle is marked closed. A timer firing twice, a crash mid-close or a rebalance all
just repeat the close: the same invoice ids are sent again and the issue agent keeps
the first number. An order for a cycle already closed goes into the next open one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from domain.billing import build_draft
from domain.codec import decode, encode
from domain.cycles import cycle_for, next_cycle, parse_cycle
from domain.errors import CodecError, PipelineError
from domain.metrics import count_refusal, OPEN_CYCLE_ORDERS, OPEN_CYCLES, ORDER_STATE_UPDATES, STAGE_LATENCY

from streams.context import Context
from streams.acking import guarded, processed_events, stop_if_rebalancing
from streams.bill import credit_request
from streams.channels import message_kind, partition_of

__all__ = ["cycle_agent", "close_due_cycles", "close_command"]

log = logging.getLogger("streams.cycles")


def close_command(at: datetime, customer: str | None = None) -> bytes:
    return json.dumps({"at": at.astimezone(timezone.utc).isoformat(), "customer": customer}).encode()


def _load(table: Any, key: bytes, default: Any) -> Any:
    raw = table.get(key)
    return json.loads(raw) if raw else default


def _store(table: Any, key: bytes, value: Any) -> None:
    table[key] = json.dumps(value, separators=(",", ":")).encode()


_KEEP_CLOSED = 24  # closed cycles kept per customer (late orders, credit notes after the close)


def _empty() -> dict[str, Any]:
    return {"cycles": {}}


# One JSON value per customer holds every cycle's state (status, end, order keys, invoices):
# one changelog message per change, so a crash never leaves two tables telling different
# stories. The orders' bodies are in ``p.tables.cycle_orders``, written before the state names them.


def refresh_gauges(p: Context) -> None:
    """Open cycles of the partitions this worker owns: the table also holds standby replicas of
    other workers' partitions, which are theirs to count."""
    owned = {tp.partition for tp in p.app.consumer.assignment() if tp.topic == p.topics.cycle_orders}
    open_cycles = orders = 0
    for key, value in list(p.tables.cycles.items()):
        if not value or partition_of(key, p.settings.partitions) not in owned:
            continue
        for c in json.loads(value)["cycles"].values():
            if c["status"] == "open":
                open_cycles += 1
                orders += len(c["orders"])
    OPEN_CYCLES.set(open_cycles)
    OPEN_CYCLE_ORDERS.set(orders)


def spec_for(p: Context, customer_id: str) -> Any:
    customer = p.reference.customers.get(customer_id)
    if customer is None:
        raise PipelineError(f"customer {customer_id!r} is not in reference data")
    return customer, parse_cycle(customer.billing_cycle, customer.timezone)


def placed_in(p: Context, state: dict[str, Any], order_key: str) -> str | None:
    return next((cid for cid, c in state["cycles"].items() if order_key in c["orders"]), None)


async def add_order(p: Context, event: Any, customer_id: str) -> None:
    order = decode("order_event", event.value)
    key = customer_id.encode()
    state = _load(p.tables.cycles, key, _empty())
    if placed_in(p, state, order["order_key"]) is not None:
        return  # seen again (a redelivery, or a replay after a crash): never in a second cycle
    _customer, spec = spec_for(p, customer_id)
    cycle = cycle_for(spec, order["occurred_at"])
    while state["cycles"].get(cycle.cycle_id, {}).get("status") == "closed":
        cycle = next_cycle(spec, cycle)  # late: the cycle was already closed
    p.tables.cycle_orders[f"{customer_id}|{cycle.cycle_id}|{order['order_key']}".encode()] = event.value
    c = state["cycles"].setdefault(cycle.cycle_id, {"status": "open", "end_ms": cycle.end_ms, "orders": []})
    if not c["orders"]:
        OPEN_CYCLES.inc()
    c["orders"].append(order["order_key"])
    _store(p.tables.cycles, key, state)
    OPEN_CYCLE_ORDERS.inc()
    ORDER_STATE_UPDATES.labels("accumulated").inc()


async def send_invoices(p: Context, customer_id: str, cycle_id: str, c: dict[str, Any]) -> dict[str, list[str]]:
    """Build the cycle's invoices from its orders and send them to the issue agent, waiting for
    the broker's acknowledgement. Deterministic: sending again gives the same invoice ids."""
    customer, _spec = spec_for(p, customer_id)
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for order_key in c["orders"]:
        raw = p.tables.cycle_orders.get(f"{customer_id}|{cycle_id}|{order_key}".encode())
        if raw is None:
            raise PipelineError(f"cycle {customer_id}/{cycle_id}: order {order_key} has no body")
        order = decode("order_event", raw)
        po = order.get("purchase_order") if customer.split_by_po else None
        groups[(order["currency"], po)].append(order)
    seller = p.reference.seller_for(customer)
    targets = list(customer.targets if customer.targets is not None else
                   (p.reference.defaults.targets if p.reference.defaults.targets is not None else p.settings.default_targets))
    invoices: dict[str, list[str]] = {}
    sent: list[Any] = []
    for (_currency, _po), orders in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        orders.sort(key=lambda o: (o["occurred_at"], o["order_key"]))
        draft = build_draft(orders, customer=customer, seller=seller, reference=p.reference,
                            trigger="CYCLE_END", targets=targets)
        sent.append(p.app.producer.send_and_wait(p.topics.issue, draft["series"].encode(), encode("invoice", draft),
                                                 partition=None, timestamp=None, headers=None))
        for o in orders:
            invoices[o["order_key"]] = [draft["invoice_id"], draft["series"]]
    await asyncio.gather(*sent)
    return invoices


async def close_cycle(p: Context, customer_id: str, state: dict[str, Any], cycle_id: str) -> None:
    c = state["cycles"][cycle_id]
    # closed only once the broker has every invoice request: a crash before that leaves the cycle
    # open, and the next close sends the same requests again (same invoice ids, same numbers)
    invoices = await send_invoices(p, customer_id, cycle_id, c)
    c.update(status="closed", invoices=invoices, closed_ms=int(time.time() * 1000))
    for cid in sorted(k for k, v in state["cycles"].items() if v["status"] == "closed")[:-_KEEP_CLOSED]:
        if not state["cycles"][cid].get("bodies", True):
            del state["cycles"][cid]


async def resend_recent(p: Context, customer_id: str, state: dict[str, Any]) -> None:
    """Once per customer after a worker starts: send the requests of cycles closed in the last day
    again. A crash can have lost what followed a close (the issue agent re-sends an invoice it
    already issued, byte for byte, and issues one it never saw)."""
    since = int(time.time() * 1000) - 86_400_000
    for cycle_id, c in sorted(state["cycles"].items()):
        if c["status"] == "closed" and c.get("bodies", True) and c.get("closed_ms", 0) >= since:
            await send_invoices(p, customer_id, cycle_id, c)


async def cancel_order(p: Context, event: Any, customer_id: str) -> None:
    """A cancelled order leaves its open cycle; after the close it gets a credit note."""
    order = decode("order_event", event.value)
    key = customer_id.encode()
    state = _load(p.tables.cycles, key, _empty())
    cycle_id = placed_in(p, state, order["order_key"])
    if cycle_id is None:
        return
    c = state["cycles"][cycle_id]
    if c["status"] == "open":
        c["orders"].remove(order["order_key"])
        _store(p.tables.cycles, key, state)
        OPEN_CYCLE_ORDERS.dec()
    elif order["order_key"] in c.get("invoices", {}):
        invoice_id, series = c["invoices"][order["order_key"]]
        await p.channels.issue.send(key=series.encode(), value=credit_request({}, order, invoice_id),
                                    headers={"kind": b"credit"})


async def close_due(p: Context, event: Any) -> None:
    cmd = json.loads(event.value)
    at_ms = int(datetime.fromisoformat(cmd["at"]).timestamp() * 1000)
    partition = event.message.partition
    if cmd.get("customer"):
        customers = [str(cmd["customer"])]
    else:
        customers = [k.decode() for k in list(p.tables.cycles.keys()) if partition_of(k, p.settings.partitions) == partition]
    log.info("close command at %s on partition %s offset %s: %d customer(s) to check", cmd["at"], partition,
             event.message.offset, len(customers))
    for customer_id in customers:
        # a rebalance stops the close between two customers, each left consistent; the command stays
        # unacknowledged and the partition's next owner closes the rest (closing is idempotent)
        stop_if_rebalancing(p.app, event)
        try:
            await close_customer(p, customer_id, cmd, at_ms, event)
        except (CodecError, PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            # one customer's cycle that cannot be invoiced (e.g. reference data lacks a rate) must not
            # hold up the bill run of the customers after it: park it with the reason, go on; its cycle
            # stays open, so the next close after the data is fixed invoices it
            count_refusal("cycles", exc)
            await p.dead_letter(event, stage="cycles", error=f"customer {customer_id}: {exc}",
                                value=close_command(datetime.fromisoformat(cmd["at"]), customer_id),
                                key=customer_id.encode(), kind="close")


async def close_customer(p: Context, customer_id: str, cmd: dict[str, Any], at_ms: int, event: Any) -> None:
    partition = event.message.partition
    key = customer_id.encode()
    state = _load(p.tables.cycles, key, None)
    if state is None:
        return
    if customer_id not in p.resent_after_start:
        p.resent_after_start.add(customer_id)
        await resend_recent(p, customer_id, state)
    due = sorted(cid for cid, c in state["cycles"].items() if c["status"] == "open" and c["end_ms"] <= at_ms)
    if due:
        log.info("closing cycles %s of customer %s (close command at %s, partition %s offset %s)", due,
                 customer_id, cmd["at"], partition, event.message.offset)
    for cycle_id in due:
        await close_cycle(p, customer_id, state, cycle_id)
    if not due:
        return
    # order bodies of a closed cycle are dropped two closes later, when its closed state has long
    # been written: a crash can then never leave an open cycle without the bodies to close it
    closed = sorted(cid for cid, c in state["cycles"].items() if c["status"] == "closed" and c.get("bodies", True))
    for cycle_id in closed[:-2]:
        state["cycles"][cycle_id]["bodies"] = False
    _store(p.tables.cycles, key, state)
    for cycle_id in closed[:-2]:
        for o in state["cycles"][cycle_id]["orders"]:
            p.tables.cycle_orders.pop(f"{customer_id}|{cycle_id}|{o}".encode(), None)


async def cycle_agent(p: Context, stream: Any) -> None:
    await p.ready()
    async for event in processed_events(stream, "cycles"):
        async with guarded(p, event, "cycles"):
            started = time.perf_counter()
            kind = message_kind(event) or "order"
            try:
                if kind == "close":
                    await close_due(p, event)
                    refresh_gauges(p)
                elif kind == "cancel":
                    await cancel_order(p, event, event.key.decode())
                else:
                    await add_order(p, event, event.key.decode())
            except (CodecError, PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                await p.dead_letter(event, stage="cycles", error=exc)
                continue
            STAGE_LATENCY.labels("cycles").observe(time.perf_counter() - started)


async def close_due_cycles(p: Context) -> None:
    """Every interval, the leader asks every partition to close the cycles that ended."""
    now = datetime.now(timezone.utc)
    for partition in range(p.settings.partitions):
        await p.channels.cycle_orders.send(key=None, value=close_command(now), partition=partition,
                                           headers={"kind": b"close"})
