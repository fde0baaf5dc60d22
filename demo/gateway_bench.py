"""`invoicing bench`'s gateway measurement: one gateway process alone (no worker), signed Shopify webhooks sent
as fast as it answers them over keep-alive connections, the signature verified and the broker's acknowledgement
awaited before each 2xx, as in production.

The client is a small HTTP/1.1 loop over asyncio streams, not httpx: a general-purpose client in the same
two cores would measure itself. The run fails unless the raw-events topic holds one record for every 2xx
(an accepted webhook is one on the topic). `paced` is the same client sending at a steady rate, for the
latency run (`demo.bench.latency`).
"""
from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from demo.bench_support import SECRET, bench_settings, count_until, stop, until_all_answer
from demo.samples import shopify as shop
from domain.settings import Settings
from infra.broker import free_port

__all__ = ["Answer", "gateway_alone", "paced", "start_gateway", "wait_healthy", "wire"]


def start_gateway(settings: Settings, bootstrap: str, port: int, out: Path) -> subprocess.Popen[bytes]:
    """A gateway process on loopback *port* accepting the bench's signed Shopify webhooks, logging to *out*."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INVOICING_TOPIC_PREFIX": settings.topic_prefix,
           "INVOICING_SHOPIFY_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "invoicing", "gateway", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(out / f"gateway-{settings.app_id}.log", "wb"),
                            start_new_session=True)


async def wait_healthy(port: int, timeout: float = 30.0) -> None:
    await until_all_answer([f"http://127.0.0.1:{port}/healthz"], timeout, f"the gateway on port {port} did not answer /healthz")


def wire(req: Any, port: int) -> bytes:
    """*req* (a sample request) as the bytes of an HTTP/1.1 request to the gateway on *port*."""
    head = [f"{req.method} {req.path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(req.body)}"]
    head += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    body: bytes = req.body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """Send one request on a keep-alive connection and read its answer; its status.

    Raises:
        ConnectionError, asyncio.IncompleteReadError: the connection closed first.
    """
    writer.write(raw)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the gateway closed the connection")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _connection(port: int, requests: list[bytes], statuses: list[int]) -> None:
    """Send *requests* one after another on one keep-alive connection, recording each answer's status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            statuses.append(await _exchange(reader, writer, raw))
    finally:
        writer.close()


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (the connection failed twice, or 30 s passed)
    sent_s: float  # when it was sent, seconds after the first was due
    answer_s: float  # how long the answer took
    answered_at: float  # wall clock (time.time()) of the answer


async def paced(port: int, requests: list[bytes], rate: float, connections: int = 64) -> list[Answer]:
    """Send request *i* when it is due (*i* / *rate* seconds after the first) over *connections* keep-alive
    connections, request *i* on connection *i* mod *connections*, each connection one request at a time (a
    platform's sender with a bounded pool: answers slower than the rate delay what follows). A connection the
    gateway closed (its keep-alive timeout) is opened again and the request sent once more."""
    start = time.perf_counter() + 0.05
    answers: list[Answer | None] = [None] * len(requests)

    async def one_connection(first: int) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            for i in range(first, len(requests), connections):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                status = 0
                for _attempt in range(2):
                    try:
                        if conn is None:
                            conn = await asyncio.open_connection("127.0.0.1", port)
                        status = await asyncio.wait_for(_exchange(*conn, requests[i]), 30)
                        break
                    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                        if conn is not None:
                            conn[1].close()
                        conn = None
                answers[i] = Answer(status, sent - start, time.perf_counter() - sent, time.time())
        finally:
            if conn is not None:
                conn[1].close()

    await asyncio.gather(*(one_connection(k) for k in range(min(connections, len(requests)))))
    done = [a for a in answers if a is not None]
    assert len(done) == len(requests)  # every connection ran to its end, or gather raised
    return done


async def gateway_alone(bootstrap: str, requests: int, out: Path, connections: int = 32) -> dict[str, Any]:
    """Requests/s one gateway process answers with 2xx, *requests* signed webhooks over *connections*."""
    settings = await bench_settings(bootstrap, "gw-" + uuid.uuid4().hex[:6])
    port = free_port()
    gateway = start_gateway(settings, bootstrap, port, out)
    try:
        await wait_healthy(port)
        at = datetime.now(timezone.utc)
        warm = [wire(shop.order(n, random.Random(n), SECRET, at).requests[-1], port) for n in range(40_000, 40_050)]
        warm_statuses: list[int] = []
        await asyncio.gather(*(_connection(port, warm[i::10], warm_statuses) for i in range(10)))
        if refused := sorted({s for s in warm_statuses if not 200 <= s < 300}):
            raise RuntimeError(f"the gateway refused the bench's signed webhooks (HTTP {refused}); see {out}")
        wires = [wire(shop.order(n, random.Random(n), SECRET, at).requests[-1], port)
                 for n in range(50_000, 50_000 + requests)]
        statuses: list[int] = []
        started = time.perf_counter()
        await asyncio.gather(*(_connection(port, wires[i::connections], statuses) for i in range(connections)))
        seconds = time.perf_counter() - started
        accepted = sum(1 for s in statuses if 200 <= s < 300)
        on_topic, _ = await count_until(bootstrap, settings.topic("invoicing.raw-events"), len(warm) + accepted,
                                        timeout=60)
        if on_topic != len(warm) + accepted:
            raise RuntimeError(f"{accepted} webhooks answered 2xx but {on_topic - len(warm)} raw events on the topic")
        return {"requests": requests, "connections": connections, "accepted": accepted,
                "seconds": round(seconds, 2), "requests_per_s": round(accepted / max(seconds, 1e-9), 1)}
    finally:
        stop(gateway)
