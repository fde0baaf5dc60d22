"""``invoicing console``: the web console for finance and operations.

    invoicing console [--port 8090] [--host 127.0.0.1]     serve it
    invoicing console add-user NAME --role viewer|operator  add a user (or set a new password and role)
    invoicing console users                                 list the users

The password is read without echo (``getpass``), or from standard input when that is not a
terminal (one line), so a script can pipe it in. Users and the audit of their actions live in
the invoice register (``INVOICING_REGISTER_DSN`` / ``--register-path``). Serve the console on
loopback, or behind a TLS proxy that sets ``X-Forwarded-Proto: https`` (cookies are then Secure).
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from domain.settings import Settings
from invoicing.options import add_common_options, bootstrap_of, settings_from_args

__all__ = ["add_commands", "read_password"]


def _settings(args: argparse.Namespace) -> Settings:
    """The pipeline's settings with this command's flags: the broker and topic prefix every command takes
    (`invoicing.options`), and the register's, as ``invoicing register`` takes them."""
    return settings_from_args(args, register_path=getattr(args, "register_path", None),
                              register_schema=getattr(args, "schema", None))


def read_password(prompt: str = "Password: ", *, stdin: Any = None) -> str:
    """The password, from the terminal without echo (asked twice), or one line of *stdin* when it is not a terminal.

    Raises:
        ConsoleUserError: the two entries differ, or nothing was given.
    """
    from invoicing.console.accounts import ConsoleUserError

    stream = stdin or sys.stdin
    if stream.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat the password: ") != first:
            raise ConsoleUserError("the two passwords differ")
    else:
        first = stream.readline().rstrip("\r\n")
    if not first:
        raise ConsoleUserError("no password given")
    return first


def _cmd_add_user(args: argparse.Namespace) -> int:
    from invoicing.console.accounts import ConsoleUserError, create_user, validate_name
    from invoicing.console.services import open_register

    try:
        validate_name(args.name)
        password = read_password()
        new = create_user(open_register(_settings(args)), args.name, args.role, password)
    except ConsoleUserError as exc:
        print(f"invoicing console add-user: {exc}", file=sys.stderr)
        return 2
    print(f"{'added' if new else 'updated'} {args.role} {args.name}")
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    from invoicing.console.accounts import list_users
    from invoicing.console.services import open_register

    for user in list_users(open_register(_settings(args))):
        print(f"{user.username}\t{user.role}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from invoicing.console.app import create_app, serve_console
    from invoicing.console.services import describe_register

    settings = _settings(args)
    app = create_app(settings, bootstrap_of(settings))
    print(f"console on http://{args.host}:{args.port}/ (register {describe_register(settings)}, "
          f"broker {bootstrap_of(settings)})", flush=True)
    asyncio.run(serve_console(app, args.host, args.port))
    return 0


def _register_options(p: argparse.ArgumentParser) -> None:
    add_common_options(p)
    p.add_argument("--register-path", help="SQLite file of the register when INVOICING_REGISTER_DSN is not set")
    p.add_argument("--schema", help="PostgreSQL schema of the register tables")


def add_commands(sub: Any) -> None:
    """Add the ``console`` command to the ``invoicing`` parser's *sub* (subparsers)."""
    p = sub.add_parser("console", help="the web console: invoices, dead letters, billing cycles, health "
                                       "(users: console add-user NAME --role viewer|operator)")
    _register_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090)
    p.set_defaults(func=_cmd_serve)
    csub = p.add_subparsers(dest="console_command")
    a = csub.add_parser("add-user", help="add a console user, or set a new password and role (password read "
                                         "without echo, or from standard input)")
    _register_options(a)
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["viewer", "operator"])
    a.set_defaults(func=_cmd_add_user)
    u = csub.add_parser("users", help="list the console users")
    _register_options(u)
    u.set_defaults(func=_cmd_users)
