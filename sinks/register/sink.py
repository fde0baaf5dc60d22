"""Register sink: every invoice, its lines, lineage and document hashes in the invoice register (SQL).

Delivery guarantee: exactly once per invoice id. The write is one transaction and an
upsert keyed by ``invoice_id`` (children keyed by position, document hashes by kind), so
a replay or a redelivery after a crash changes nothing; `find_invoice` answers from the
same table. Idempotency key: the invoice id. The database is SQLite by default
(``INVOICING_REGISTER_PATH``) or PostgreSQL (``INVOICING_REGISTER_DSN``); see
`sinks.register`. Delivery receipts are recorded by the agent in
``streams/register_receipts.py``, not here.
"""
from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Mapping

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from domain.errors import FatalSinkError, InvoiceRejected, RetriableSinkError
from sinks.register.engine import db_error_text, open_register
from sinks.register.store import has_invoice, record_invoice
from sinks.base import InvoiceRef, Sink

__all__ = ["RegisterSink", "map_db_error"]


def map_db_error(exc: SQLAlchemyError, what: str) -> FatalSinkError | RetriableSinkError:
    """Constraint and data errors are the invoice's fault; everything else (connection, lock, timeout) is retried."""
    if isinstance(exc, (IntegrityError, DataError)):
        return InvoiceRejected(f"{what}: {db_error_text(exc)}")
    return RetriableSinkError(f"{what}: {db_error_text(exc)}")


def _hashes(invoice: Mapping[str, Any]) -> dict[str, str]:
    try:
        from domain.documents import document_hashes
    except ImportError as exc:
        raise FatalSinkError(f"register: document renderer unavailable ({exc})") from None
    try:
        return dict(document_hashes(dict(invoice)))
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise InvoiceRejected(f"register: documents cannot be rendered: {type(exc).__name__}: {exc}") from None


class RegisterSink(Sink):
    target = "register"
    uses_http: ClassVar[bool] = False

    _engine: Engine | None = None

    def _open(self) -> Engine:
        if self._engine is None:
            self._engine = open_register(self.pipeline)
        return self._engine

    async def start(self) -> None:
        await self._call(lambda: self._open(), "open register")

    async def _call(self, fn: Any, what: str) -> Any:
        try:
            return await asyncio.to_thread(fn)
        except SQLAlchemyError as exc:
            raise map_db_error(exc, f"register: {what}") from None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._call(lambda: has_invoice(self._open(), idempotency_key), "look-up")
        return InvoiceRef(idempotency_key) if found else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        if idempotency_key != invoice["invoice_id"]:
            raise InvoiceRejected("register: the idempotency key must be the invoice id")
        hashes = await asyncio.to_thread(_hashes, invoice)
        await self._call(lambda: record_invoice(self._open(), invoice, hashes), "write")
        return InvoiceRef(idempotency_key)
