"""`invoicing demo` and `invoicing bench`: registered with the CLI as entry points (group
``invoicing.commands`` in pyproject.toml), so the operator layer below never imports the demo."""
from __future__ import annotations

import argparse
from typing import Any

from invoicing.options import add_common_options

__all__ = ["add_bench", "add_demo"]


def cmd_demo(args: argparse.Namespace) -> int:
    from demo.run import run_demo

    return run_demo(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from demo.bench import run_bench

    return run_bench(args)


def add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on a realistic batch of signed webhooks")
    add_common_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.add_argument("--orders", type=int, default=20, help="orders per platform")
    p.add_argument("--output-dir", default="demo-out", help="where invoices are written")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--console", action="store_true", help="after the summary, keep the pipeline running and serve the "
                                                          "web console on the demo's data (a sign-in is printed)")
    p.add_argument("--console-port", type=int, default=8090, help="the console's port with --console (default 8090)")
    p.set_defaults(func=cmd_demo)


def add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure the pipeline against a plain-aiokafka passthrough")
    add_common_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--rate", type=float, default=200.0, help="events/s for the latency run")
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--state", action="store_true", help="measure only the dedup state instead: recovery time and "
                                                        "resident memory of a RocksDB-backed worker holding --keys order states")
    p.add_argument("--keys", type=int, default=1_000_000, help="order states for --state (default 1,000,000)")
    p.set_defaults(func=cmd_bench)
