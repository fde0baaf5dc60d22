"""``invoicing register ...``: read the invoice register and keep its schema current.

    invoicing register show NUMBER [--json]
    invoicing register search [--customer C] [--from DATE] [--to DATE] [--status S] [--json]
    invoicing register export --csv FILE [--from DATE] [--to DATE]     (FILE "-" is stdout)
    invoicing register migrate

The database is ``INVOICING_REGISTER_DSN`` (give it in the environment, not on the
command line, so its password stays out of ``ps`` and shell history), else the
SQLite file ``--register-path`` / ``INVOICING_REGISTER_PATH``.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from datetime import date
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.exc import SQLAlchemyError

from domain.errors import PipelineError
from domain.jsonify import to_jsonable
from domain.settings import Settings

__all__ = ["add_commands", "format_invoice", "format_table", "register_engine"]


def _settings(args: argparse.Namespace) -> Settings:
    from invoicing.options import settings_from_args

    return settings_from_args(args, register_path=args.register_path, register_schema=args.schema)


def _engine(args: argparse.Namespace) -> Any:
    from sinks.register.engine import db_error_text, describe, open_register, register_url

    settings = _settings(args)
    try:
        return open_register(settings)
    except SQLAlchemyError as exc:
        raise PipelineError(f"register {describe(register_url(settings))}: {db_error_text(exc)}") from None


register_engine = _engine


def _guarded(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Database errors become a one-line `PipelineError` (no statement parameters, no DSN password)."""

    @functools.wraps(cmd)
    def run(args: argparse.Namespace) -> int:
        from sinks.register.engine import db_error_text

        try:
            return cmd(args)
        except SQLAlchemyError as exc:
            raise PipelineError(f"register: {db_error_text(exc)}") from None

    return run


def format_table(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain aligned text table; Decimals and dates as their exact text."""
    cells = [[str(to_jsonable(r.get(c)) if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def format_invoice(rec: Mapping[str, Any]) -> str:
    """Human view of `sinks.register.store.get_by_number`'s answer."""
    j = to_jsonable(dict(rec))
    head = [
        f"{j['document_type']} {j['number']}  ({j['invoice_id']})  status {j['status']}",
        f"issued {j['issue_date']}  due {j['due_date']}  series {j['series']} #{j['sequence']}",
        f"seller {j['seller_name']} ({j['seller_id']}, VAT {j['seller_vat_id'] or '-'})",
        f"buyer  {j['buyer_name']} ({j['customer_id']}, VAT {j['buyer_vat_id'] or '-'}, {j['buyer_email'] or '-'})",
        f"net {j['tax_exclusive_total']}  tax {j['tax_total']}  total {j['total']}  due {j['amount_due']} {j['currency']}",
        "",
        format_table(rec["lines"], ("position", "sku", "description", "quantity", "unit_price", "net_amount",
                                    "tax_category", "tax_rate")),
        "",
        format_table(rec["tax_breakdown"], ("category", "rate", "taxable_amount", "tax_amount", "exemption_reason")),
        "",
        "source events:",
        *(f"  {s['platform']}:{s['event_id']} ({s['event_type']}, {s['trigger']}, {s['order_key']})" for s in j["lineage"]),
        "documents:",
        *(f"  {k}: {v}" for k, v in j["documents"].items()),
        "deliveries:",
        *(f"  {r['at']} {r['target']} {r['status']} attempts={r['attempts']} {r['external_id'] or ''}"
          f"{' ' + r['detail'] if r['detail'] else ''}".rstrip() for r in j["receipts"]),
    ]
    if j["emails"]:
        head += ["e-mails:", *(f"  {e['sent_at']} {e['message_id']} → {e['recipient']}" for e in j["emails"])]
    return "\n".join(head)


def cmd_show(args: argparse.Namespace) -> int:
    from sinks.register.store import get_by_number

    rec = get_by_number(_engine(args), args.number)
    if rec is None:
        print(f"invoicing: no invoice {args.number} in the register", file=sys.stderr)
        return 1
    print(json.dumps(to_jsonable(rec), ensure_ascii=False, indent=2) if args.json else format_invoice(rec))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from sinks.register.store import search

    rows = search(_engine(args), customer=args.customer, date_from=args.date_from, date_to=args.date_to,
                  status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps(to_jsonable(rows), ensure_ascii=False))
    else:
        print(format_table(rows, ("number", "issue_date", "customer_id", "buyer_name", "currency", "total", "status")))
        print(f"{len(rows)} invoice(s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sinks.register.store import export_csv

    engine = _engine(args)
    if args.csv == "-":
        count = export_csv(engine, sys.stdout, date_from=args.date_from, date_to=args.date_to)
    else:
        with open(args.csv, "w", encoding="utf-8", newline="") as fh:
            count = export_csv(engine, fh, date_from=args.date_from, date_to=args.date_to)
        print(f"exported {count} invoice(s) to {args.csv}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from sinks.register.engine import current_revision, describe, register_url

    settings = _settings(args)
    engine = _engine(args)
    print(f"register {describe(register_url(settings))} at revision {current_revision(engine)}")
    return 0


def add_commands(sub: Any) -> None:
    """Add the ``register`` command group to the ``invoicing`` parser's *sub* (subparsers)."""
    from invoicing.options import add_common_options

    p = sub.add_parser("register", help="the invoice register (SQL): show, search, export, migrate")
    rsub = p.add_subparsers(dest="register_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        add_common_options(parser)
        parser.add_argument("--register-path", help="SQLite file when INVOICING_REGISTER_DSN is not set")
        parser.add_argument("--schema", help="PostgreSQL schema of the register tables")

    def dates(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--from", dest="date_from", type=date.fromisoformat, help="issued on or after (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", type=date.fromisoformat, help="issued on or before (YYYY-MM-DD)")

    r = rsub.add_parser("show", help="one invoice with lines, lineage, document hashes and deliveries")
    common(r)
    r.add_argument("number")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_guarded(cmd_show))

    r = rsub.add_parser("search", help="invoices by customer, issue date and status")
    common(r)
    r.add_argument("--customer", help="customer id, buyer e-mail, or part of the buyer's name")
    dates(r)
    r.add_argument("--status", type=str.upper, choices=["ISSUED", "PARTIAL", "DELIVERED", "PARKED"])
    r.add_argument("--limit", type=int, default=1000)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_guarded(cmd_search))

    r = rsub.add_parser("export", help="CSV for auditors, one row per invoice")
    common(r)
    r.add_argument("--csv", required=True, metavar="FILE", help="output file ('-' for stdout)")
    dates(r)
    r.set_defaults(func=_guarded(cmd_export))

    r = rsub.add_parser("migrate", help="bring the register's schema to the newest revision (Alembic upgrade head)")
    common(r)
    r.set_defaults(func=_guarded(cmd_migrate))
