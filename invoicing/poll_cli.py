"""``invoicing poll [--once] [--platform P] [--interval S]``: run the pollers (`sources.ingress.poller`)."""
from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

__all__ = ["add_commands"]


def cmd_poll(args: argparse.Namespace) -> int:
    from infra.broker import ensure_topics, wait_for_broker
    from invoicing.options import bootstrap_of, settings_from_args
    from domain.errors import ConfigError
    from sources.ingress.poller import Poller, pollable_sources

    settings = settings_from_args(args)
    bootstrap = bootstrap_of(settings)
    sources = pollable_sources(args.platform)
    if not sources:
        raise ConfigError(f"no pollable source{' named ' + args.platform if args.platform else ''} "
                          "(transport 'poll', or 'both' with INVOICING_<PLATFORM>_POLL=true)")

    async def run() -> None:
        await wait_for_broker(bootstrap)
        await ensure_topics(settings, bootstrap)
        async with Poller(settings, bootstrap, sources) as poller:
            if args.once:
                counts = await poller.poll_once()
                print(", ".join(f"{name}: {n if n >= 0 else 'failed'}" for name, n in sorted(counts.items())), flush=True)
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            print(f"polling {', '.join(sorted(sources))} every {args.interval:g} s", flush=True)
            await poller.run(args.interval, stop)

    asyncio.run(run())
    return 0


def add_commands(sub: Any) -> None:
    from invoicing.options import add_common_options

    p = sub.add_parser("poll", help="poll platforms without webhooks (Wave), or with polling enabled (INVOICING_WOOCOMMERCE_POLL / INVOICING_ODOO_POLL), onto the raw-events topic")
    add_common_options(p)
    p.add_argument("--once", action="store_true", help="one poll cycle, then exit")
    p.add_argument("--platform", help="only this platform")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between cycles (default 60)")
    p.set_defaults(func=cmd_poll)
