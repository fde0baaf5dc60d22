"""Webhooks in flight at the same time reach the broker together: the gateway's producer batch holds them all,
so they share one produce request instead of queueing for a request each (`PRODUCER_BATCH_BYTES`)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from infra.broker import ensure_topics
from sources.ingress.gateway import RawEventPublisher
from tests.support import read_topic, unique_settings


async def test_concurrent_webhooks_share_produce_requests(bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    publisher = RawEventPublisher(settings, bootstrap)
    await publisher.start()
    produce_requests: list[str] = []
    client = publisher.producer.client
    real_send = client.send

    async def counting_send(node_id: Any, request: Any, **kwargs: Any) -> Any:  # a spy: the real client sends it
        if type(request).__name__.startswith("ProduceRequest"):
            produce_requests.append(type(request).__name__)
        return await real_send(node_id, request, **kwargs)

    client.send = counting_send
    events = [(f"shopify:{n}".encode(), bytes([n]) * 4096) for n in range(64)]  # 64 raw events of 4 KiB
    try:
        await asyncio.gather(*(publisher.publish(key, value) for key, value in events))
    finally:
        await publisher.stop()
    # with aiokafka's default 16 KiB batch they took 12 requests, one after another (seen)
    assert 1 <= len(produce_requests) <= 3, produce_requests
    got = {m.key: m.value for m in await read_topic(bootstrap, publisher.topic, count=len(events), timeout=10)}
    assert got == dict(events)  # every acknowledged event is on the topic, whole
