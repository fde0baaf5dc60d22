"""Folder sink: each invoice as ``<number>.json`` (the full document) in the output folder.

Delivery guarantee: exactly once per invoice number. The file is written to a
temporary name and renamed, so a crash leaves either no file or the whole file;
`find_invoice` looks for the file first, so a redelivery changes nothing.
Idempotency key: the invoice id, stored in the file and checked on look-up.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Mapping

from invoicing.errors import InvoiceRejected, RetriableSinkError
from invoicing.jsonify import to_jsonable
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
            await asyncio.to_thread(_atomic_write, path, body)
        except OSError as exc:
            raise RetriableSinkError(f"cannot write {path}: {exc}") from exc
        return InvoiceRef(str(path), url=path.resolve().as_uri())


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
