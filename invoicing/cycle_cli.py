"""`invoicing cycle close [--customer ID] [--at TIME]`: close billing cycles that have ended.

Sends a close command to the cycles agent: to the customer's partition, or to every
partition. Closing is idempotent, so running it twice, or while the worker's own
timer fires, issues nothing twice. ``--at`` closes as of another time (e.g. to close
today's cycles early at the end of a business day, or to replay a missed close).
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timezone
from typing import Any


from domain.errors import ConfigError

__all__ = ["add_commands", "send_close"]


async def send_close(settings: Any, bootstrap: str, *, at: datetime, customer: str | None = None) -> int:
    """Send close commands; returns how many were sent."""
    from infra.broker import ensure_topics, producer as new_producer, wait_for_broker
    from streams.cycles import close_command

    await wait_for_broker(bootstrap)
    topics = await ensure_topics(settings, bootstrap)
    producer = new_producer(settings, bootstrap)
    await producer.start()
    try:
        headers = [("kind", b"close")]
        if customer:
            await producer.send_and_wait(topics.cycle_orders, close_command(at, customer), key=customer.encode(),
                                         headers=headers)
            return 1
        partitions = await producer.partitions_for(topics.cycle_orders)
        for partition in sorted(partitions):
            await producer.send_and_wait(topics.cycle_orders, close_command(at), partition=partition, headers=headers)
        return len(partitions)
    finally:
        await producer.stop()


def _parse_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _cmd_close(args: argparse.Namespace) -> int:
    from invoicing.options import bootstrap_of, settings_from_args

    settings = settings_from_args(args)
    at = _parse_at(args.at)
    n = asyncio.run(send_close(settings, bootstrap_of(settings), at=at, customer=args.customer))
    target = f"customer {args.customer}" if args.customer else f"{n} partition(s)"
    print(f"close command for cycles ended by {at.isoformat()} sent to {target}")
    return 0


def add_commands(sub: Any) -> None:
    from invoicing.options import add_common_options

    p = sub.add_parser("cycle", help="billing cycles")
    csub = p.add_subparsers(dest="cycle_command", required=True)
    c = csub.add_parser("close", help="close billing cycles that ended (idempotent)")
    add_common_options(c)
    c.add_argument("--customer", help="only this customer's cycles")
    c.add_argument("--at", help="close cycles that ended by this ISO 8601 time (default: now)")
    c.set_defaults(func=_cmd_close)
