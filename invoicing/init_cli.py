"""``invoicing init [FILE] [--force]``: write a commented starter reference file.

It holds what a worker needs before its first invoice: the seller (the legal entity that
issues the invoices), defaults, tax rates and one example customer. Every value to replace
says ``CHANGE ME``; `invoicing reference load` refuses the file while one is left, so no
invoice is ever issued in a placeholder's name.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from domain.errors import ConfigError
from domain.reference import PLACEHOLDER

__all__ = ["add_commands", "STARTER", "PLACEHOLDER", "write_starter"]

STARTER = f"""\
# Reference data for the invoicing pipeline. Load it with:  invoicing reference load FILE
# Replace every "{PLACEHOLDER}" value; the loader refuses the file while one is left.
# Customers that are not listed here are invoiced with the buyer data the platform sends
# (name, postal address with country, VAT id); an invoice that lacks what the law requires
# is parked on the dead-letter topic with the reason, and takes no number.

defaults:
  seller_id: my-company          # the seller below issues every invoice unless a customer names another
  payment_terms: NET30           # NET15 | NET30 | NET60 | EOM | EOM30 | 2/10-NET30
  invoice_policy: IMMEDIATE      # which event issues the invoice: IMMEDIATE | ON_PAYMENT | ON_SHIPMENT | ON_CLOSED_WON | CYCLE
  targets: [folder, register]    # where invoices go: folder, register, email, xero, quickbooks, stripe, ...

tax:
  # VAT rates by country (EU standard rates are built in; list the ones you want to pin)
  vat_rates: {{DE: "19"}}
  # US sales tax by ship-to state (a US seller only; states not listed collect none)
  us_state_rates: {{}}

sellers:
  - seller_id: my-company
    name: "{PLACEHOLDER}: your company's legal name"
    vat_id: "{PLACEHOLDER}: your VAT id, e.g. DE123456789"
    tax_registration: null       # e.g. "HRB 123456 Amtsgericht Hamburg" or a US EIN
    email: "{PLACEHOLDER}: billing@your-company.example"
    iban: null                   # printed on invoices as the account to pay into
    invoice_prefix: INV          # invoice numbers: INV-2026-000001 (one series per seller and document type)
    credit_note_prefix: CN
    address:
      line1: "{PLACEHOLDER}: street and number"
      city: "{PLACEHOLDER}: city"
      postal_code: "{PLACEHOLDER}: postal code"
      country: DE                # ISO 3166 code, quoted where YAML would misread it ("NO" for Norway)

customers:
  # One example; platforms name customers by their own ids, listed in external_ids as "<platform>:<id>".
  - customer_id: C-0001
    name: Example Customer Ltd
    email: ap@example-customer.example
    vat_id: null                 # needed for intra-EU supplies (K) and reverse charge (AE)
    external_ids: ["shopify:1234567890", "email:ap@example-customer.example"]
    address: {{line1: 1 Example Street, city: Example City, postal_code: "12345", country: DE}}

products: []                     # optional: sku, description, tax_category, tax_rate, service: true
"""


def write_starter(path: Path, *, force: bool = False) -> Path:
    """Write `STARTER` to *path*.

    Raises:
        ConfigError: *path* exists and *force* is not set.
    """
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    path.write_text(STARTER, encoding="utf-8")
    return path


def cmd_init(args: argparse.Namespace) -> int:
    path = write_starter(Path(args.file), force=args.force)
    print(f"wrote {path}: replace every {PLACEHOLDER!r}, then run `invoicing reference load {path}`")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("init", help="write a commented starter reference file (seller, defaults, tax, a customer)")
    p.add_argument("file", nargs="?", default="reference.yaml")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
