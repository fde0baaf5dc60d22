"""Invoice policies and cross-platform dedup on the real broker: which trigger issues the invoice,
what the other events do, and the same order announced by several platforms."""
from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from infra.broker import ensure_topics
from domain.codec import decode
from infra.reference_store import publish_reference
from demo.samples import shopify as shop
from demo.samples import stripe as stripe_samples
from domain.settings import PlatformSettings, Settings
from sources.shopify import Shopify
from sources.stripe import Stripe
from tests.support import REPO, WorkerProcess, read_topic, running_gateway, unique_settings, wait_until

pytestmark = pytest.mark.slow
SHOP_SECRET, STRIPE_SECRET = "policy-shop-secret", "whsec_policy_0123456789"


async def prepare(tmp_path: Path, bootstrap: str, policies: dict[str, str]) -> Settings:
    data = yaml.safe_load((REPO / "demo" / "data" / "reference.yaml").read_text())
    for c in data["customers"]:
        if c["customer_id"] in policies:
            c["invoice_policy"] = policies[c["customer_id"]]
    ref = tmp_path / "reference.yaml"
    ref.write_text(yaml.safe_dump(data, allow_unicode=True))
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, ref)
    return settings


def sources() -> dict[str, Any]:
    return {"shopify": Shopify(PlatformSettings(secret=SecretStr(SHOP_SECRET))),
            "stripe": Stripe(PlatformSettings(secret=SecretStr(STRIPE_SECRET)))}


async def post(base: str, requests: list[Any]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        for req in requests:
            r = await client.post(req.path, content=req.body, headers=dict(req.headers))
            assert r.status_code == 200, r.text


def shopify_pair(n: int) -> tuple[Any, Any, dict[str, Any]]:
    """(orders/paid, orders/fulfilled) webhooks of Shopify order *n*, and the order."""
    at = datetime.now(timezone.utc)
    doc = shop.shopify_payload(n, random.Random(n))
    body = json.dumps(doc, default=str).encode()
    paid = shop._request("orders/paid", body, SHOP_SECRET, f"evt-paid-{doc['id']}", at)
    fulfilled = shop._request("orders/fulfilled", body, SHOP_SECRET, f"evt-ful-{doc['id']}", at)
    return paid, fulfilled, doc


async def invoices(bootstrap: str, settings: Settings) -> dict[bytes, dict[str, Any]]:
    return {m.key: decode("invoice", m.value)
            for m in await read_topic(bootstrap, settings.topic("invoices"), timeout=5, idle=0.5)}


async def test_policy_decides_the_issuing_trigger(bootstrap: str, tmp_path: Path) -> None:
    # C-1001 (order 0) is invoiced on payment, C-1002 (order 1) on shipment, C-1003 (order 2) immediately
    settings = await prepare(tmp_path, bootstrap, {"C-1001": "ON_PAYMENT", "C-1002": "ON_SHIPMENT"})
    paid0, ful0, _ = shopify_pair(0)
    paid1, ful1, _ = shopify_pair(1)
    paid2, ful2, _ = shopify_pair(2)
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, sources()) as base:
            await post(base, [ful0, paid1, ful2])  # the non-issuing events for 0 and 1 come first
            assert await wait_until(lambda: worker.metric("invoicing_order_state_updates_total", kind="held") >= 2, timeout=60)
            got = await invoices(bootstrap, settings)
            assert [inv["customer_id"] for inv in got.values()] == ["C-1003"], "only the IMMEDIATE customer so far"
            await post(base, [paid0, ful1, paid2])
            assert await wait_until(lambda: _count(bootstrap, settings, 3), timeout=60)
        got = await invoices(bootstrap, settings)
        by_customer = {inv["customer_id"]: inv for inv in got.values()}
        assert len(got) == 3
        assert by_customer["C-1001"]["trigger"] == "PAYMENT_RECEIVED"
        assert by_customer["C-1002"]["trigger"] == "SHIPMENT_CONFIRMED"
        assert by_customer["C-1003"]["trigger"] == "SHIPMENT_CONFIRMED"
        # the payment after C-1003's invoice was issued updates the order (marked paid), issues nothing
        assert await wait_until(lambda: worker.metric("invoicing_order_state_updates_total", kind="paid") >= 1, timeout=30)
    finally:
        worker.stop()


async def test_same_orders_from_several_platforms_shuffled_and_duplicated(bootstrap: str, tmp_path: Path) -> None:
    """Shopify fulfilment, Shopify payment and a Stripe payment naming the Shopify order,
    each delivered twice, shuffled: exactly one invoice per order."""
    settings = await prepare(tmp_path, bootstrap, {})
    at = datetime.now(timezone.utc)
    requests: list[Any] = []
    order_refs = set()
    for n in range(20, 30):
        paid, fulfilled, doc = shopify_pair(n)
        ref = f"shopify:{doc['id']}"
        order_refs.add(ref)
        event = stripe_samples.stripe_event(n, random.Random(n), order_ref=ref)
        stripe_req = stripe_samples.signed(json.dumps(event).encode(), STRIPE_SECRET, at)
        requests += [paid, fulfilled, stripe_req] * 2
    random.Random(5).shuffle(requests)
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        async with running_gateway(settings, bootstrap, sources()) as base:
            await post(base, requests)
        def handled() -> float:  # every event: issued, updated the order (paid), or dropped as a duplicate
            return (worker.metric("invoicing_invoices_issued_total") + worker.metric("invoicing_duplicates_dropped_total")
                    + worker.metric("invoicing_order_state_updates_total"))

        assert await wait_until(lambda: handled() >= len(requests), timeout=90), worker.log()[-2000:]
        got = await invoices(bootstrap, settings)
        billed = Counter(o for inv in got.values() for o in inv["orders"])
        assert set(billed) == order_refs and set(billed.values()) == {1}
        assert {ev["platform"] for inv in got.values() for ev in inv["lineage"]} <= {"shopify", "stripe"}
        assert handled() == len(requests), "every event is accounted for exactly once"
        # the issuing event's second copy is a duplicate event; other platforms' events are the same order again
        assert worker.metric("invoicing_duplicates_dropped_total", level="event") >= 10
        assert worker.metric("invoicing_duplicates_dropped_total", level="order") >= 10
        # the dashboards' view, per trigger kind: events in, duplicates dropped, invoices issued
        triggers = ("PAYMENT_RECEIVED", "SHIPMENT_CONFIRMED")
        assert {t: worker.metric("invoicing_events_in_total", trigger=t) for t in triggers} == {
            "PAYMENT_RECEIVED": 40, "SHIPMENT_CONFIRMED": 20}, "20 Shopify and 20 Stripe payments, 20 fulfilments"
        assert sum(worker.metric("invoicing_duplicates_dropped_total", trigger=t) for t in triggers) == \
            worker.metric("invoicing_duplicates_dropped_total") == len(requests) - len(order_refs) - worker.metric(
                "invoicing_order_state_updates_total")
        assert sum(worker.metric("invoicing_invoices_issued_total", trigger=t) for t in triggers) == len(order_refs)
    finally:
        worker.stop()


async def _count(bootstrap: str, settings: Settings, n: int) -> bool:
    return len(await invoices(bootstrap, settings)) >= n
