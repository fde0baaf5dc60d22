"""`invoicing bench`: the pipeline against a plain-aiokafka baseline, on one broker, in one run.

Measurements, all from this run:

1. **Pipeline throughput**: N signed Shopify events, already on the raw-events topic,
   through one worker running the stream processors (normalise → bill → issue) until N
   invoices are on the ``invoices`` topic. Sinks run in their own worker processes in
   production (``--agents deliver,register_receipts``); documents are measured in 5.
2. **Baseline throughput**: the same N raw events through one plain aiokafka
   consume → decode → normalise → dedup → price and number → encode → produce loop,
   with no Faust and no intermediate topics. The ratio pipeline / baseline is the
   figure to watch (MISSION.md aims for ≥ 0.5).
3. **Scale-out**: the pipeline throughput again with one and with two worker processes in one
   consumer group, on topics of two partitions both times, and their ratio.
4. **Latency**: webhooks posted over HTTP to a gateway at a steady rate; for each,
   the time from the gateway's 2xx to its invoice on the topic (p50, p99).
5. **Gateway**: one gateway process alone, signed webhooks as fast as it answers (`demo.gateway_bench`).
6. **Documents**: PDF + UBL renderings per second on one core.

``--state [--keys N]`` measures instead the dedup state of a RocksDB-backed worker: recovery time of *N*
order states from the changelog and the worker's resident memory (`demo.state_bench`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from domain.billing import build_draft, issue, series_for, unknown_customer
from infra.broker import EmbeddedBroker, ensure_topics, free_port, wait_for_broker
from domain.codec import decode, encode
from demo.samples import shopify as shop
from demo.samples.invoices import demo_reference
from domain.settings import PlatformSettings, Settings, load_settings
from sources.shopify import Shopify
from demo.gateway_bench import gateway_alone, paced, start_gateway, wait_healthy, wire
from demo.bench_support import SECRET, until_all_answer, bench_settings, count_until, produce, raw_events, start_worker, stop

__all__ = ["run_bench"]



async def _warm_up(settings: Settings, bootstrap: str, count: int = 1) -> None:
    """*count* events through the workers so group join and recovery are not timed."""
    await produce(bootstrap, settings.topic("invoicing.raw-events"), raw_events(count, 9_999_000))
    got, _ = await count_until(bootstrap, settings.topic("invoices"), count, timeout=90)
    if got < count:
        raise RuntimeError(f"the workers produced {got} of {count} warm-up invoices within 90 s")


async def _all_ready(ports: list[int], timeout: float = 90.0) -> None:
    """Every worker's /readyz answers 200 (reference data read, partitions assigned) at the same time."""
    await until_all_answer([f"http://127.0.0.1:{port}/readyz" for port in ports], timeout,
                           "the workers were not all ready")


async def pipeline_throughput(bootstrap: str, events: int, out: Path, workers: int = 1, partitions: int = 1) -> float:
    """Events/s through *workers* worker processes in one consumer group, on topics of *partitions* partitions."""
    settings = await bench_settings(bootstrap, f"pipe{workers}-" + uuid.uuid4().hex[:6], partitions)
    ports = [free_port() for _ in range(workers)]
    procs = [start_worker(settings, bootstrap, out, port, f"-{i}") for i, port in enumerate(ports)]
    try:
        await _all_ready(ports)
        warm = 4 * partitions
        await _warm_up(settings, bootstrap, warm)
        await _all_ready(ports)  # all still in the group after the warm-up
        records = raw_events(events, 0)
        start = time.perf_counter()
        await produce(bootstrap, settings.topic("invoicing.raw-events"), records)
        got, last = await count_until(bootstrap, settings.topic("invoices"), events + warm, timeout=600)
        if got < events + warm:
            raise RuntimeError(f"pipeline produced {got - warm} of {events} invoices")
        return events / (last - start)
    finally:
        for proc in procs:
            stop(proc)


async def scale_out(bootstrap: str, events: int, out: Path) -> dict[str, float]:
    """The same events through one and through two worker processes in one consumer group, on topics of two
    partitions both times (only the process count differs)."""
    one = await pipeline_throughput(bootstrap, events, out, workers=1, partitions=2)
    two = await pipeline_throughput(bootstrap, events, out, workers=2, partitions=2)
    return {"partitions": 2, "workers_1_events_per_s": round(one, 1), "workers_2_events_per_s": round(two, 1),
            "ratio": round(two / one, 3)}


async def baseline_throughput(bootstrap: str, events: int) -> float:
    """Plain aiokafka: consume raw → decode → normalise → dedup → price/number → encode → produce."""
    settings = load_settings(bootstrap=bootstrap, topic_prefix=f"bench-base-{uuid.uuid4().hex[:6]}.", partitions=1)
    await ensure_topics(settings, bootstrap)
    records = raw_events(events, 0)
    await produce(bootstrap, settings.topic("invoicing.raw-events"), records)
    ref = demo_reference()
    src = Shopify(PlatformSettings(secret=None))
    consumer = AIOKafkaConsumer(settings.topic("invoicing.raw-events"), bootstrap_servers=bootstrap,
                                group_id=f"bench-base-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=False)
    await consumer.start()
    await producer.start()
    seen: set[str] = set()
    counters: dict[str, int] = {}
    done = 0
    out_topic = settings.topic("invoices")
    start = time.perf_counter()
    try:
        while done < events:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                for m in msgs:
                    raw = decode("raw_event", m.value)
                    for order in src.normalise(raw):
                        assert isinstance(order, dict)
                        done += 1
                        if order["event_key"] in seen:
                            continue
                        seen.add(order["event_key"])
                        cust = ref.find_customer(order["customer_ref"], order["customer"]["email"]) or unknown_customer(order)
                        seller = ref.seller_for(cust)
                        draft = build_draft([order], customer=cust, seller=seller, reference=ref,
                                            trigger=order["trigger"], targets=[])
                        series = series_for(seller, "INVOICE")
                        counters[series] = counters.get(series, 0) + 1
                        inv = issue(draft, sequence=counters[series], issued_at=datetime.now(timezone.utc), seller=seller)
                        await producer.send(out_topic, encode("invoice", inv), key=inv["invoice_id"].encode())
            if batch:
                await consumer.commit()
        await producer.flush()
        return events / (time.perf_counter() - start)
    finally:
        await consumer.stop()
        await producer.stop()


async def latency(bootstrap: str, rate: float, seconds: float, out: Path) -> dict[str, float]:
    settings = await bench_settings(bootstrap, "lat-" + uuid.uuid4().hex[:6])
    worker = start_worker(settings, bootstrap, out)
    port = free_port()
    gateway = start_gateway(settings, bootstrap, port, out)
    try:
        await _warm_up(settings, bootstrap)
        await wait_healthy(port)
        count = max(1, int(rate * seconds))
        at = datetime.now(timezone.utc)
        reqs = [shop.order(n, random.Random(n), SECRET, at).requests[-1] for n in range(20_000, 20_000 + count)]
        arrivals: dict[bytes, float] = {}
        reader = asyncio.ensure_future(count_until(bootstrap, settings.topic("invoices"), count + 1,
                                                    timeout=seconds + 60, arrivals=arrivals))
        # the bench's own small HTTP/1.1 client (httpx took a large share of the two cores): 64 keep-alive
        # connections, each request sent when due unless its connection is still waiting for an answer; a
        # request not answered 2xx counts as rejected (the run reports it), it does not end the run
        answers = await paced(port, [wire(req, port) for req in reqs], rate)
        accepted = {req.headers["X-Shopify-Event-Id"]: a.answered_at for req, a in zip(reqs, answers) if a.status == 200}
        answer_s = sorted(a.answer_s for a in answers if a.status == 200)
        rejected = sum(1 for a in answers if a.status != 200)
        offered_s = max(a.sent_s for a in answers) + 1 / rate  # the last request went out then; it was due at count / rate
        answered_s = max(a.sent_s + a.answer_s for a in answers)
        await reader
        lat: list[float] = []
        ids = _invoice_ids_by_event(reqs)
        for event_id, ok_at in accepted.items():
            seen_at = arrivals.get(ids[event_id])
            if seen_at is not None:
                lat.append(max(0.0, seen_at - ok_at))
        lat.sort()
        if not lat:
            raise RuntimeError("no invoice arrived in the latency run")
        return {"rate": rate, "events": count, "measured": len(lat), "rejected": rejected,
                # what the client managed to offer, and the rate at which the gateway answered them
                "offered_per_s": round(count / max(offered_s, 1e-9), 1),
                "answered_per_s": round(len(accepted) / max(answered_s, 1e-9), 1),
                "p50_ms": _percentile_ms(lat, 0.5), "p99_ms": _percentile_ms(lat, 0.99),
                "http_p99_ms": _percentile_ms(answer_s, 0.99)}
    finally:
        stop(gateway)
        stop(worker)


def _percentile_ms(sorted_s: list[float], q: float) -> float:
    return round(1000 * sorted_s[min(len(sorted_s) - 1, int(len(sorted_s) * q))], 1) if sorted_s else float("nan")


def _invoice_ids_by_event(reqs: list[Any]) -> dict[str, bytes]:
    from domain.billing import invoice_id_for

    out = {}
    for req in reqs:
        doc = json.loads(req.body)
        out[req.headers["X-Shopify-Event-Id"]] = invoice_id_for([f"shopify:{doc['id']}"]).encode()
    return out


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from demo.documents_bench import documents_per_second

    broker = None
    bootstrap = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(port=free_port()).start()
        bootstrap = broker.bootstrap
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"invoicing-bench-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        await wait_for_broker(bootstrap)

        def say(message: str) -> None:
            if not args.json:
                print(message, file=sys.stderr, flush=True)

        if getattr(args, "state", False):
            from demo.state_bench import state_recovery

            say(f"state: {args.keys} order states recovered into a RocksDB-backed worker ...")
            state = await state_recovery(bootstrap, args.keys, out)
            return {"broker": "embedded" if broker is not None else bootstrap, "state": state,
                    "rss_mb": state["rss_mb"], "recovery_s": state["recovery_s"]}
        say(f"baseline: plain aiokafka, {args.events} events ...")
        base = await baseline_throughput(bootstrap, args.events)
        say(f"pipeline: Faust worker, {args.events} events ...")
        pipe = await pipeline_throughput(bootstrap, args.events, out)
        say(f"scale-out: {args.events} events through 1, then 2 worker processes in one group ...")
        scaled = await scale_out(bootstrap, args.events, out)
        say(f"latency: {args.rate:g} events/s over HTTP for {args.latency_seconds:g} s ...")
        lat = await latency(bootstrap, args.rate, args.latency_seconds, out)
        say(f"gateway: one process alone, {args.events} signed webhooks as fast as it answers ...")
        gw = await gateway_alone(bootstrap, args.events, out)
        say("documents: PDF + UBL on one core ...")
        docs = documents_per_second(2.0)
    finally:
        if broker is not None:
            broker.stop()
    return {
        "broker": "embedded" if broker is not None else bootstrap,
        "events": args.events,
        "pipeline_events_per_s": round(pipe, 1),
        "baseline_events_per_s": round(base, 1),
        "ratio": round(pipe / base, 3),
        "scale_out": scaled,
        "latency": lat,
        "gateway": gw,
        "documents": docs,
    }


def run_bench(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if "state" in result:
        st = result["state"]
        print("=== invoicing bench --state (one run, one broker) ===")
        print(f"order states:           {st['keys']} on the orders changelog, RocksDB store")
        print(f"recovered in:           {st['recovery_s']} s (start to first invoice request {st['start_with_keys_s']} s, "
              f"{st['start_empty_s']} s with no state)")
        print(f"worker resident memory: {st['rss_mb']} MiB ({st['rss_empty_mb']} MiB with no state)")
        return 0
    print("=== invoicing bench (one run, one broker) ===")
    print(f"broker:                 {result['broker']}")
    print(f"pipeline:               {result['pipeline_events_per_s']} events/s ({result['events']} events)")
    print(f"plain aiokafka baseline: {result['baseline_events_per_s']} events/s (same decode/dedup/price/encode work)")
    print(f"ratio pipeline/baseline: {result['ratio']}")
    sc = result["scale_out"]
    print(f"scale-out ({sc['partitions']} partitions): 1 worker {sc['workers_1_events_per_s']} events/s, "
          f"2 workers {sc['workers_2_events_per_s']} events/s, ratio {sc['ratio']}")
    lat = result["latency"]
    print(f"latency at {lat['rate']:g}/s:      p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms "
          f"(gateway 2xx → invoice on topic, {lat['measured']} events)")
    print(f"  offered {lat['offered_per_s']}/s, gateway answered {lat['answered_per_s']}/s "
          f"(HTTP p99 {lat['http_p99_ms']} ms), {lat['rejected']} not accepted")
    gw = result["gateway"]
    print(f"gateway alone:          {gw['requests_per_s']} requests/s answered 2xx ({gw['accepted']} of {gw['requests']} "
          f"over {gw['connections']} connections, each on the topic)")
    d = result["documents"]
    print(f"documents per core:     {d['pdf_and_ubl_per_second']} PDF+UBL/s (PDF {d['pdf_ms']} ms, UBL {d['ubl_ms']} ms)")
    return 0
