"""``invoicing audit numbers [--json] [--series S]``: prove each numbering series has no holes.

Reads the whole ``invoices`` topic from the beginning to its end and runs `domain.audit.audit_numbers` over it. Exit code 0 when every series is
clean, 1 when there are problems (2 when the topic cannot be read completely).
"""
from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from domain.audit import AuditReport, audit_numbers
from infra.kafka_read import read_invoices
from domain.settings import Settings

__all__ = ["add_commands", "numbers_command"]


async def audit_topic(settings: Settings, bootstrap: str, *, series: str | None = None) -> AuditReport:
    messages = await read_invoices(bootstrap, settings.topic("invoices"))
    if series:
        messages = [m for m in messages if m.invoice is None or m.invoice["series"] == series]
    return audit_numbers(messages)


async def numbers_command(settings: Settings, bootstrap: str, *, as_json: bool = False,
                          series: str | None = None) -> int:
    """Print the audit of the ``invoices`` topic; 0 when clean, 1 when there are problems."""
    report = await audit_topic(settings, bootstrap, series=series)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.text())
    return 0 if report.ok else 1


def cmd_audit_numbers(args: argparse.Namespace) -> int:
    from invoicing.options import bootstrap_of, settings_from_args

    settings = settings_from_args(args)
    return asyncio.run(numbers_command(settings, bootstrap_of(settings), as_json=args.json, series=args.series))


def add_commands(sub: Any) -> None:
    """Add the ``audit`` command group to the ``invoicing`` parser's *sub* (subparsers)."""
    from invoicing.options import add_common_options

    p = sub.add_parser("audit", help="audits of what the pipeline published")
    asub = p.add_subparsers(dest="audit_command", required=True)
    a = asub.add_parser("numbers", help="check every numbering series on the invoices topic for holes and duplicates "
                                        "(exit 1 on problems)")
    add_common_options(a)
    a.add_argument("--series", help="only this series (e.g. kompressor-de/INVOICE)")
    a.add_argument("--json", action="store_true", help="one JSON report")
    a.set_defaults(func=cmd_audit_numbers)
