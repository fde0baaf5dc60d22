"""Agent ``bill``: order events (keyed by order) → issue requests (keyed by numbering series).

This is where deduplication happens, at two levels: the order's state in the
``orders`` table keeps the platform event keys seen for it (the same event
delivered again), and its status (the same order announced again, by another
trigger, another platform or a replay) issues nothing more. Which trigger issues the
invoice is the customer's invoice policy; other events still update the order
(a payment marks an issued invoice paid) and are counted, never lost.
"""
from __future__ import annotations

import json
import time
from typing import Any

from domain.billing import build_draft, unknown_customer
from domain.codec import decode, encode
from domain.errors import CodecError, PipelineError
from domain.jsonlog import add_log_context
from domain.latency import accepted_headers
from domain.metrics import count_refusal, DUPLICATES, ORDER_STATE_UPDATES, ORDER_STATES, ORDER_STATES_SWEPT, STAGE_LATENCY

from streams.context import Context
from streams.acking import guarded, processed_events
from streams.channels import message_kind, partition_of

__all__ = ["bill", "request_sweep", "POLICY_TRIGGERS", "decide", "credit_request"]

BILLABLE = frozenset({"SHIPMENT_CONFIRMED", "PAYMENT_RECEIVED", "STAGE_REACHED"})

#: invoice policy → triggers that issue the invoice
POLICY_TRIGGERS: dict[str, frozenset[str]] = {
    "IMMEDIATE": BILLABLE,
    "ON_SHIPMENT": frozenset({"SHIPMENT_CONFIRMED"}),
    "ON_PAYMENT": frozenset({"PAYMENT_RECEIVED"}),
    "ON_CLOSED_WON": frozenset({"STAGE_REACHED"}),
    "CYCLE": frozenset(),
}

_MAX_EVENTS_KEPT = 64


def decide(state: dict[str, Any], order: dict[str, Any], policy: str) -> str:
    """What to do with *order* given the order's *state*:
    duplicate-event | duplicate | paid | cancelled | issue | cycle | hold."""
    trigger = order["trigger"]
    if order["event_key"] in state.get("events", ()):
        return "duplicate-event"
    if state.get("status") in ("issued", "cycled"):
        if trigger == "PAYMENT_RECEIVED" and not state.get("paid"):
            return "paid"
        if trigger == "ORDER_CANCELLED" and not state.get("cancelled"):
            return "cancelled"
        return "duplicate"
    if trigger == "ORDER_CANCELLED":
        return "cancelled"
    if state.get("cancelled"):
        return "hold"
    if policy == "CYCLE" and trigger in BILLABLE:
        return "cycle"
    if trigger in POLICY_TRIGGERS.get(policy, BILLABLE):
        return "issue"
    return "hold"


def credit_request(state: dict[str, Any], order: dict[str, Any], invoice_id: str | None = None) -> bytes:
    """Ask the issue agent (on the invoice's series partition, where the invoice is) for a credit note."""
    return json.dumps({
        "invoice_id": invoice_id or state["invoice_id"], "order_key": order["order_key"],
        "reason": f"order {order['external_order_id']} cancelled ({order['platform']} {order['event_type']})",
        "lineage": [{"platform": order["platform"], "event_id": order["event_id"], "event_type": order["event_type"],
                     "trigger": order["trigger"], "order_key": order["order_key"]}],
    }).encode()


def sweep(p: Context, event: Any) -> None:
    """Drop this partition's order states not touched within the retention (a ``sweep`` command)."""
    before_ms = json.loads(event.value)["before_ms"]
    partition = event.message.partition
    expired = [k for k, v in list(p.tables.orders.items())
               if v is not None and partition_of(k, p.settings.partitions) == partition
               and json.loads(v).get("updated_ms", 0) < before_ms]
    for k in expired:
        del p.tables.orders[k]
    ORDER_STATES_SWEPT.inc(len(expired))
    ORDER_STATES.set(sum(1 for _ in p.tables.orders.keys()))


async def request_sweep(p: Context) -> None:
    """The leader asks every partition of the orders topic to drop expired order states."""
    before_ms = int((time.time() - p.settings.dedup_retention_days * 86400) * 1000)
    for partition in range(p.settings.partitions):
        await p.channels.orders.send(key=None, value=json.dumps({"before_ms": before_ms}).encode(),
                                     partition=partition, headers={"kind": b"sweep"})


async def effect(p: Context, kind: str, event: Any, order: dict[str, Any], customer: Any, state: dict[str, Any]) -> None:
    """Send what *kind* sends downstream, and record it in *state*. Deterministic: sending it
    again for the same event sends the same message (the receivers deduplicate)."""
    ref = p.reference
    if kind == "issue":
        cust = customer or unknown_customer(order)
        seller = ref.seller_for(cust)
        targets = list(cust.targets if cust.targets is not None else
                       (ref.defaults.targets if ref.defaults.targets is not None else p.settings.default_targets))
        draft = build_draft([order], customer=cust, seller=seller, reference=ref, trigger=order["trigger"],
                            targets=targets)
        value = encode("invoice", draft)
        await p.channels.issue.send(key=draft["series"].encode(), value=value,
                                    headers=accepted_headers(order.get("received_at")))
        state.update(status="issued", invoice_id=draft["invoice_id"], series=draft["series"])
    elif kind == "cycle":
        customer_id = state.get("customer_id") or customer.customer_id
        await p.channels.cycle_orders.send(key=customer_id.encode(), value=event.value, headers={"kind": b"order"})
        state.update(status="cycled", customer_id=customer_id)
    elif kind == "credit":
        await p.channels.issue.send(key=state["series"].encode(), value=credit_request(state, order),
                                    headers={"kind": b"credit"})
    elif kind == "cancel-cycle":
        await p.channels.cycle_orders.send(key=state["customer_id"].encode(), value=event.value,
                                           headers={"kind": b"cancel"})


async def bill(p: Context, stream: Any) -> None:
    await p.ready()
    ref = p.reference
    async for event in processed_events(stream, "bill"):
        async with guarded(p, event, "bill"):
            started = time.perf_counter()
            if message_kind(event) == "sweep":
                sweep(p, event)
                continue
            try:
                order = decode("order_event", event.value)
            except CodecError as exc:
                await p.dead_letter(event, stage="bill", error=exc)
                continue
            add_log_context(platform=order["platform"], event_id=order["event_id"], order_key=order["order_key"])
            key = event.key
            current = p.tables.orders.get(key)
            state: dict[str, Any] = json.loads(current) if current else {}
            customer = ref.find_customer(order.get("customer_ref"), order["customer"].get("email"))
            policy = (customer.invoice_policy if customer and customer.invoice_policy else ref.defaults.invoice_policy).upper()
            if customer is None and policy == "CYCLE":
                policy = "IMMEDIATE"  # only customers in reference data have a billing cycle
            action = decide(state, order, policy)
            if (action == "duplicate-event" and state.get("effect_event") == order["event_key"]
                    and event.message.offset <= state.get("effect_offset", -1)):
                # the very message that caused a send downstream, processed again after a crash (not a
                # redelivery, which is a later message): the state may have been saved while the sent
                # message was lost, so send it again (it is idempotent there)
                try:
                    await effect(p, str(state["effect"]), event, order, customer, state)
                except (PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                    count_refusal("bill", exc)
                    await p.dead_letter(event, stage="bill", error=exc, platform=order["platform"])
                DUPLICATES.labels("event", order["trigger"]).inc()
                continue
            if action in ("duplicate", "duplicate-event"):
                DUPLICATES.labels("event" if action == "duplicate-event" else "order", order["trigger"]).inc()
                continue
            if action in ("issue", "cycle") or (action == "cancelled" and state.get("status") in ("issued", "cycled")
                                                and not state.get("cancelled")):
                kind = {"issue": "issue", "cycle": "cycle"}.get(action) or (
                    "credit" if state.get("status") == "issued" else "cancel-cycle")
                try:
                    await effect(p, kind, event, order, customer, state)
                except (PipelineError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                    count_refusal("bill", exc)
                    await p.dead_letter(event, stage="bill", error=exc, platform=order["platform"])
                    continue
                state.update(effect=kind, effect_event=order["event_key"], effect_offset=event.message.offset)
            if action in ("issue", "cycle"):
                state.update(trigger=order["trigger"], paid=order["trigger"] == "PAYMENT_RECEIVED")
            elif action == "paid":
                state["paid"] = True
                ORDER_STATE_UPDATES.labels("paid").inc()
            elif action == "cancelled":
                state["cancelled"] = True
                ORDER_STATE_UPDATES.labels("cancelled").inc()
            elif action == "hold":
                state.setdefault("status", "open")
                ORDER_STATE_UPDATES.labels("held").inc()
            state["events"] = (state.get("events", []) + [order["event_key"]])[-_MAX_EVENTS_KEPT:]
            state["updated_ms"] = int(time.time() * 1000)
            if current is None:
                ORDER_STATES.inc()
            p.tables.orders[key] = json.dumps(state, separators=(",", ":")).encode()
            STAGE_LATENCY.labels("bill").observe(time.perf_counter() - started)
