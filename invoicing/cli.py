"""The ``invoicing`` command line.

    invoicing broker [--port N]                 embedded Kafka-compatible broker (memory only)
    invoicing worker [--metrics-port N]         stream processors and sinks
    invoicing gateway [--port N]                webhook ingress
    invoicing demo [--json] [--console]         the whole pipeline on a realistic day of events (then the console on it)
    invoicing bench [--json]                    throughput and latency against a plain-aiokafka baseline
    invoicing reference load FILE               customers, products, sellers, tax onto compacted topics
    invoicing dlq list | replay [--target T]    the dead-letter topic
    invoicing cycle close [--customer ID]       close billing cycles that ended (idempotent)
    invoicing register show|search|export       the invoice register (SQL)
    invoicing poll [--once]                     pollers (Wave; WooCommerce and Odoo when enabled)
    invoicing audit numbers [--json]            every numbering series: no holes, no duplicates
    invoicing documents validate FOLDER|--register   XSD, EN 16931 and Peppol rules over the e-invoices written
    invoicing init [FILE]                       a commented starter reference file (seller, defaults, tax, a customer)
    invoicing console [--port 8090]             the web console: invoices, dead letters, billing cycles, health
    invoicing console add-user NAME --role viewer|operator   a console user (password read without echo)

Every command takes ``--bootstrap HOST:PORT`` (or ``KAFKA_BOOTSTRAP_SERVERS``).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from importlib.metadata import entry_points
from typing import Any, Callable

from domain.errors import PipelineError
from invoicing import audit_cli, console_cli, cycle_cli, documents_cli, init_cli, poll_cli, register_cli
from invoicing.options import add_common_options as _common, bootstrap_of as _bootstrap, settings_from_args as _settings

__all__ = ["main"]

def cmd_broker(args: argparse.Namespace) -> int:
    from infra.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=args.port).start()
    print(f"embedded broker (Tansu, memory storage) listening; bootstrap: {broker.bootstrap}", flush=True)
    print("storage is in memory: stopping the broker loses every topic", flush=True)
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop and broker.process is not None and broker.process.poll() is None:
            time.sleep(0.2)
    finally:
        broker.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    settings = _settings(args, metrics_port=args.metrics_port, app_id=args.app_id, store=args.store,
                         data_dir=args.data_dir, output_dir=args.output_dir,
                         agents=args.agents.split(",") if args.agents else None)
    run_worker(settings, _bootstrap(settings))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from infra.broker import ensure_topics, wait_for_broker
    from sources.ingress.gateway import serve_gateway
    from domain.logsafe import configure_logging

    settings = _settings(args)
    bootstrap = _bootstrap(settings)
    configure_logging(settings.log_level, settings.log_format)  # one line per record, whatever a request carried

    async def run() -> None:
        await wait_for_broker(bootstrap)
        topics = await ensure_topics(settings, bootstrap)
        if settings.schema_registry_url:
            from infra.schema_registry import register_schemas

            await register_schemas(settings.schema_registry_url, topics)
        print(f"gateway listening on http://{args.host}:{args.port}/webhooks/<platform>", flush=True)
        await serve_gateway(settings, bootstrap, args.host, args.port)

    asyncio.run(run())
    return 0


def cmd_reference_load(args: argparse.Namespace) -> int:
    from infra.broker import ensure_topics, wait_for_broker
    from domain.reference import load_reference_file
    from infra.reference_store import publish_reference

    settings = _settings(args)
    bootstrap = _bootstrap(settings)
    load_reference_file(args.file)  # a bad file is refused before the broker is asked for anything

    async def run() -> dict[str, int]:
        await wait_for_broker(bootstrap)
        await ensure_topics(settings, bootstrap)
        return await publish_reference(settings, bootstrap, args.file)

    counts = asyncio.run(run())
    print("loaded " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from invoicing import dlq

    settings = _settings(args)
    bootstrap = _bootstrap(settings)
    if args.dlq_command == "list":
        return asyncio.run(dlq.list_command(settings, bootstrap, as_json=args.json, stage=args.stage, target=args.target))
    return asyncio.run(dlq.replay_command(settings, bootstrap, stage=args.stage, target=args.target))


#: command groups of this package: each module defines ``add_commands(sub)`` over the subparsers
COMMAND_MODULES = (cycle_cli, poll_cli, register_cli, audit_cli, documents_cli, init_cli, console_cli)
#: command groups of packages above this one (the demo and the bench) register themselves here
#: as entry points in pyproject.toml, so this layer never imports them
PLUGIN_GROUP = "invoicing.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoicing", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("broker", help="run the embedded broker in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("worker", help="run the stream processors and sinks")
    _common(p)
    p.add_argument("--metrics-port", type=int, help="port of /metrics (default 9108, 0 = off)")
    p.add_argument("--app-id", help="Faust app id (consumer group)")
    p.add_argument("--store", choices=["memory://", "rocksdb://"], help="table store")
    p.add_argument("--data-dir", help="state directory")
    p.add_argument("--output-dir", help="folder sink output directory")
    p.add_argument("--agents", help="comma-separated agents to run (default all): normalise,bill,cycles,issue,"
                                    "deliver,register_receipts")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("gateway", help="run the webhook gateway")
    _common(p)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_gateway)

    p = sub.add_parser("reference", help="reference data")
    rsub = p.add_subparsers(dest="reference_command", required=True)
    r = rsub.add_parser("load", help="load a YAML/JSON reference file onto the compacted topics")
    _common(r)
    r.add_argument("file")
    r.set_defaults(func=cmd_reference_load)

    p = sub.add_parser("dlq", help="the dead-letter topic")
    dsub = p.add_subparsers(dest="dlq_command", required=True)
    for name, helptext in (("list", "list dead letters"), ("replay", "send dead letters back to be processed again")):
        d = dsub.add_parser(name, help=helptext)
        _common(d)
        d.add_argument("--stage", help="only this stage (normalise, fetch, bill, issue, deliver)")
        d.add_argument("--target", help="only deliveries to this target")
        if name == "list":
            d.add_argument("--json", action="store_true")
        d.set_defaults(func=cmd_dlq)
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        plugin.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except PipelineError as exc:
        print(f"invoicing: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
