"""Folder sink: each invoice in the output folder as ``<number>.json`` (the full record),
``<number>.pdf`` (the customer's document) and ``<number>.xml`` (UBL 2.1 Peppol BIS 3.0), the UBL
validated first (`Sink.check_einvoice`): an invalid one is parked with its rule ids, nothing written.

Delivery guarantee: exactly once per invoice number. Each file is written to a
temporary name and renamed, the JSON last, so a crash leaves either no JSON or
all three files; `find_invoice` looks for the JSON first, so a redelivery changes nothing.
Idempotency key: the invoice id, stored in the file and checked on look-up.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Mapping

from domain.documents import rendered
from domain.errors import InvoiceRejected, RetriableSinkError
from domain.jsonify import to_jsonable
from sinks.base import InvoiceRef, Sink

__all__ = ["FolderSink"]


class FolderSink(Sink):
    target = "folder"

    @property
    def folder(self) -> Path:
        return Path(self.settings.base_url or self.pipeline.output_dir)

    def _path(self, invoice: Mapping[str, Any]) -> Path:
        number = str(invoice["number"])
        if not number or "/" in number or number.startswith("."):
            raise InvoiceRejected(f"invoice number {number!r} cannot name a file")
        return self.folder / f"{number}.json"

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        path = self._path(invoice)
        try:
            doc = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RetriableSinkError(f"cannot read {path}: {exc}") from exc
        if doc.get("invoice", {}).get("invoice_id") != idempotency_key:
            raise InvoiceRejected(f"{path} holds another invoice with number {invoice['number']}")
        return InvoiceRef(str(path), url=path.resolve().as_uri())

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        path = self._path(invoice)
        body = json.dumps({"format": "invoicing.invoice.v1", "invoice": to_jsonable(dict(invoice))},
                          ensure_ascii=False, indent=2, sort_keys=True)
        try:
            docs = await asyncio.to_thread(rendered, invoice)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            raise InvoiceRejected(f"documents cannot be rendered: {exc}") from None
        await self.check_einvoice("ubl", docs.ubl, invoice)
        try:
            await asyncio.to_thread(_atomic_write, path.with_suffix(".pdf"), docs.pdf)
            await asyncio.to_thread(_atomic_write, path.with_suffix(".xml"), docs.ubl)
            await asyncio.to_thread(_atomic_write, path, body.encode())
        except OSError as exc:
            raise RetriableSinkError(f"cannot write {path}: {exc}") from exc
        return InvoiceRef(str(path), url=path.resolve().as_uri())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
