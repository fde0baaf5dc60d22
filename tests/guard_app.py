"""A Faust worker with one agent, for tests/test_offset_guard.py: it reads a one-partition topic through
``streams.acking.processed_events`` and appends each processed offset to a file.

    python -m tests.guard_app BOOTSTRAP TOPIC OUT_FILE FAULT END [unguarded]

FAULT reproduces how Faust lost records: the consumer fetched them and moved its position past
them, but they never reached the stream. Here the first delivery of offsets 6 to END - 1 is
swallowed between the consumer and the stream:

* ``drop``: nothing new arrives afterwards.
* ``drop-then-more``: once the agent processed offset 5, ten more records are written to the topic.
* ``none``: no fault.

``unguarded`` reads with Faust's own ``stream.events()`` instead (to show the fault loses records).
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import faust
from faust.transport import consumer as faust_consumer

from streams import faust_patches
from streams.acking import OffsetGuard, processed_events


def main() -> None:
    bootstrap, topic, out_path, fault, end = sys.argv[1:6]
    unguarded = "unguarded" in sys.argv[6:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faust_patches.apply()
    app = faust.App(f"guard-{topic}", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    autodiscover=False, broker_rebalance_timeout=3.0, broker_session_timeout=3.0,
                    broker_heartbeat_interval=0.5, topic_partitions=1, stream_wait_empty=False,
                    broker_commit_interval=0.5, producer_acks=-1)
    OffsetGuard.install(app, check_interval=0.5, stall_after=2.0, reread_interval=0.5)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    swallow = set(range(6, int(end))) if fault != "none" else set()
    getmany = faust_consumer.Consumer.getmany

    async def lossy_getmany(self: Any, timeout: float) -> Any:
        async for tp, message in getmany(self, timeout):
            if tp.topic == topic and message.offset in swallow:
                swallow.discard(message.offset)  # fetched, position moved on, never delivered
                continue
            yield tp, message

    faust_consumer.Consumer.getmany = lossy_getmany  # type: ignore[method-assign]
    more_sent = False

    async def after(event: Any) -> None:
        nonlocal more_sent
        with open(out_path, "a") as out:
            out.write(f"{event.message.offset}\n")
        if event.message.offset == 5 and not more_sent:
            more_sent = True
            if fault == "drop-then-more":
                for i in range(10):
                    await app.producer.send_and_wait(topic, b"k", b"more-%d" % i, partition=0, timestamp=None,
                                                     headers=None)

    @app.agent(source, name="consume", concurrency=1)
    async def consume(stream: Any) -> None:
        if unguarded:
            async for event in stream.events():
                await after(event)
        else:
            async for event in processed_events(stream, "consume"):
                await after(event)

    faust.Worker(app, loglevel="INFO", quiet=True, override_logging=False).execute_from_commandline()


if __name__ == "__main__":
    main()
