"""``invoicing documents validate FOLDER | --register [--json]``: check the e-invoices the pipeline wrote.

* ``FOLDER``: every ``*.xml`` there (UBL Invoice/CreditNote, or CII) and every PDF carrying a
  ``factur-x.xml``, as the bytes on disk: XSD, the CEN EN 16931 rules, and the Peppol rules for
  documents that claim Peppol BIS.
* ``--register``: every invoice in the register, its UBL and CII rendered again from the record
  as issued; a rendering whose digest differs from the one recorded at delivery is reported too.

Prints one line per failing document with its rule ids, then a summary; exit code 0 when
every document is valid, 1 otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from lxml import etree

from domain.documents import render_cii, render_ubl, ubl_profile
from domain.documents.validate import rule_ids, validate_document
from domain.errors import ConfigError

__all__ = ["add_commands", "validate_folder", "validate_register", "Report"]


@dataclass
class Report:
    """Documents checked and the errors of each failing one (by file or invoice number)."""

    checked: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, errors: list[str]) -> None:
        self.checked += 1
        if errors:
            self.failures[name] = errors

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "failed": len(self.failures), "ok": self.ok,
                "failures": {k: {"rules": rule_ids(v), "errors": v} for k, v in sorted(self.failures.items())}}

    def text(self) -> str:
        lines = [f"{name}: {', '.join(rule_ids(errs))}: {_short(errs[0])}" for name, errs in sorted(self.failures.items())]
        lines.append(f"{self.checked} document(s) checked, {len(self.failures)} failed")
        return "\n".join(lines)


def _short(error: str) -> str:
    """A rule finding without its XPath location (``en16931-ubl BR-11 [fatal] /*:Invoice…: text``)."""
    head, _, rest = error.partition(" /")
    return f"{head}: {rest.split(': ', 1)[1]}" if ": " in rest else error


def _kind_of_xml(data: bytes) -> str | None:
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError:
        return "ubl"  # reported by the UBL check as not well-formed
    name = etree.QName(root).localname
    return "ubl" if name in ("Invoice", "CreditNote") else "cii" if name == "CrossIndustryInvoice" else None


def _folder_documents(folder: Path) -> Iterator[tuple[str, str, bytes]]:
    for path in sorted(folder.glob("*.xml")):
        data = path.read_bytes()
        kind = _kind_of_xml(data)
        if kind:
            yield path.name, kind, data
    for path in sorted(folder.glob("*.pdf")):
        data = path.read_bytes()
        if b"factur-x.xml" in data:
            yield path.name, "facturx", data


def validate_folder(folder: Path) -> Report:
    """Every e-invoice in *folder* as stored.

    Raises:
        ConfigError: *folder* is not a directory.
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    report = Report()
    for name, kind, data in _folder_documents(folder):
        report.add(name, validate_document(kind, data))
    return report


def validate_register(engine: Any) -> Report:
    """The UBL and CII of every invoice in the register, rendered again from the record as issued."""
    from sinks.register.store import stored_invoices

    report = Report()
    for invoice, digests in stored_invoices(engine):
        for kind, data, profile in (("ubl", render_ubl(invoice), ubl_profile(invoice)), ("cii", render_cii(invoice), None)):
            errors = validate_document(kind, data, profile)
            recorded = digests.get(kind)
            if recorded and recorded != hashlib.sha256(data).hexdigest():
                errors = [f"digest: the {kind.upper()} rendered now is not the one recorded at delivery", *errors]
            report.add(f"{invoice['number']} ({kind})", errors)
    return report


def cmd_validate(args: argparse.Namespace) -> int:
    if args.register:
        from invoicing.register_cli import register_engine

        report = validate_register(register_engine(args))
    elif args.folder:
        report = validate_folder(Path(args.folder))
    else:
        raise ConfigError("name a FOLDER or --register")
    print(json.dumps(report.as_dict(), ensure_ascii=False) if args.json else report.text())
    return 0 if report.ok else 1


def add_commands(sub: Any) -> None:
    p = sub.add_parser("documents", help="the e-invoices the pipeline wrote")
    dsub = p.add_subparsers(dest="documents_command", required=True)
    v = dsub.add_parser("validate", help="XSD, EN 16931 and Peppol rules over a folder of documents or the register")
    v.add_argument("folder", nargs="?", help="folder with the documents (e.g. the folder sink's output)")
    v.add_argument("--register", action="store_true", help="the invoices in the register instead")
    v.add_argument("--register-path", help="SQLite register file (else INVOICING_REGISTER_DSN / _PATH)")
    v.add_argument("--schema", help="PostgreSQL schema of the register")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_validate)
