"""A Faust worker with one agent, for tests/streams/test_offset_guard.py: it reads a one-partition topic through
``streams.acking.processed_events`` and appends each processed offset to a file.

    python -m tests.streams.guard_app BOOTSTRAP TOPIC OUT_FILE FAULT END [unguarded] [batches]

FAULT reproduces how Faust lost records: the consumer fetched them and moved its position past
them, but they never reached the stream. Here the first delivery of offsets 6 to END - 1 is
swallowed between the consumer and the stream:

* ``drop``: nothing new arrives afterwards.
* ``drop-then-more``: once the agent processed offset 5, ten more records are written to the topic.
* ``slow-first-batch`` (with ``batches``): the first batch takes long before it records its offsets,
  so that the worker can be stopped in the middle of it (``OUT_FILE.started`` appears then).
* ``none``: no fault.

``unguarded`` reads with Faust's own ``stream.events()`` (or ``take_events``) instead, to show the
fault loses records. ``batches`` reads batches of five (``processed_batches``) and records a batch's
offsets when the batch is done, as the register does with a transaction.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import faust
from faust.transport import consumer as faust_consumer

from streams import faust_patches
from streams.acking import OffsetGuard, processed_batches, processed_events


def main() -> None:
    bootstrap, topic, out_path, fault, end = sys.argv[1:6]
    unguarded = "unguarded" in sys.argv[6:]
    batches = "batches" in sys.argv[6:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faust_patches.apply()
    app = faust.App(f"guard-{topic}", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    autodiscover=False, broker_rebalance_timeout=3.0, broker_session_timeout=3.0,
                    broker_heartbeat_interval=0.5, topic_partitions=1, stream_wait_empty=False,
                    broker_commit_interval=0.5, producer_acks=-1)
    OffsetGuard.install(app, check_interval=0.5, stall_after=2.0, reread_interval=0.5)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    swallow = set(range(6, int(end))) if fault in ("drop", "drop-then-more") else set()
    getmany = faust_consumer.Consumer.getmany

    async def lossy_getmany(self: Any, timeout: float) -> Any:
        async for tp, message in getmany(self, timeout):
            if tp.topic == topic and message.offset in swallow:
                swallow.discard(message.offset)  # fetched, position moved on, never delivered
                continue
            yield tp, message

    faust_consumer.Consumer.getmany = lossy_getmany  # type: ignore[method-assign]
    more_sent = False

    async def after_offset_5() -> None:
        nonlocal more_sent
        if not more_sent and fault == "drop-then-more":
            more_sent = True
            for i in range(10):
                await app.producer.send_and_wait(topic, b"k", b"more-%d" % i, partition=0, timestamp=None, headers=None)

    async def after(event: Any) -> None:
        with open(out_path, "a") as out:
            out.write(f"{event.message.offset}\n")
        if event.message.offset == 5:
            await after_offset_5()

    first_batch = True

    async def record_batch(events: list[Any]) -> None:
        nonlocal first_batch
        if first_batch and fault == "slow-first-batch":
            first_batch = False
            with open(out_path + ".started", "w") as marker:
                marker.write("started\n")
            await asyncio.sleep(60)  # the worker is stopped in here
        with open(out_path, "a") as out:
            out.writelines(f"{e.message.offset}\n" for e in events)
        if any(e.message.offset == 5 for e in events):
            await after_offset_5()

    @app.agent(source, name="consume", concurrency=1)
    async def consume(stream: Any) -> None:
        if batches and unguarded:
            async for events in stream.take_events(5, within=0.2):
                await record_batch(events)
        elif batches:
            async for events in processed_batches(stream, "consume", 5, 0.2):
                await record_batch(events)
        elif unguarded:
            async for event in stream.events():
                await after(event)
        else:
            async for event in processed_events(stream, "consume"):
                await after(event)

    faust.Worker(app, loglevel="INFO", quiet=True, override_logging=False).execute_from_commandline()


if __name__ == "__main__":
    main()
