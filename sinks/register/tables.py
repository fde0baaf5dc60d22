"""The register's tables (SQLAlchemy Core). Alembic migrations in ``migrations/versions`` create them.

Money and rates are exact: ``NUMERIC(22, 4)`` / ``NUMERIC(9, 4)`` on PostgreSQL; on SQLite,
whose NUMERIC affinity would turn them into binary floats, they are stored as
decimal text. Either way Python sees `Decimal`, never ``float``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, String,
                        Table, Text, UniqueConstraint)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["metadata", "invoices", "invoice_lines", "invoice_taxes", "invoice_lineage", "invoice_documents",
           "delivery_receipts", "email_messages", "Exact", "ALL_TABLES"]


class Exact(TypeDecorator[Decimal]):
    """A `Decimal` column: NUMERIC(p, s) where the database has exact numerics, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 22, scale: int = 4) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money is Decimal, never float")
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        return format(d, "f") if dialect.name == "sqlite" else d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)) if not isinstance(value, Decimal) else value


metadata = MetaData()
_ID = 200
_TZ = DateTime(timezone=True)


def _parent() -> ForeignKey:
    return ForeignKey("invoices.invoice_id", ondelete="CASCADE")


invoices = Table(
    "invoices", metadata,
    Column("invoice_id", String(_ID), primary_key=True),
    Column("number", String(100), nullable=False, index=True),
    Column("series", String(_ID), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("document_type", String(20), nullable=False),
    Column("issue_date", Date, nullable=False, index=True),
    Column("due_date", Date, nullable=False),
    Column("supply_date", Date),
    Column("issued_at", _TZ, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer_id", String(_ID), nullable=False, index=True),
    Column("seller_id", String(_ID), nullable=False),
    Column("seller_name", Text, nullable=False),
    Column("seller_vat_id", String(50)),
    Column("buyer_name", Text, nullable=False),
    Column("buyer_vat_id", String(50)),
    Column("buyer_email", String(320)),
    Column("buyer_reference", Text),
    Column("purchase_order", Text),
    Column("preceding_invoice", String(100)),
    Column("line_total", Exact(), nullable=False),
    Column("charge_total", Exact(), nullable=False),
    Column("tax_exclusive_total", Exact(), nullable=False),
    Column("tax_total", Exact(), nullable=False),
    Column("total", Exact(), nullable=False),
    Column("prepaid", Exact(), nullable=False),
    Column("amount_due", Exact(), nullable=False),
    Column("payment_terms_code", String(50), nullable=False),
    Column("trigger", String(50), nullable=False),
    Column("targets", Text, nullable=False, doc="JSON list of target names"),
    Column("status", String(20), nullable=False, index=True, doc="ISSUED | PARTIAL | DELIVERED | PARKED"),
    Column("content_hash", String(64), nullable=False, doc="sha256 of the canonical JSON of the invoice"),
    Column("document", Text, nullable=False, doc="the whole invoice as JSON (Decimals as strings)"),
    Column("recorded_at", _TZ, nullable=False),
)

invoice_lines = Table(
    "invoice_lines", metadata,
    Column("invoice_id", String(_ID), _parent(), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("line_id", String(_ID), nullable=False),
    Column("order_key", String(_ID), nullable=False),
    Column("sku", String(_ID)),
    Column("description", Text, nullable=False),
    Column("quantity", Exact(), nullable=False),
    Column("unit_code", String(10), nullable=False),
    Column("unit_price", Exact(), nullable=False),
    Column("allowance", Exact(), nullable=False),
    Column("net_amount", Exact(), nullable=False),
    Column("tax_category", String(10), nullable=False),
    Column("tax_rate", Exact(9, 4), nullable=False),
)

invoice_taxes = Table(
    "invoice_taxes", metadata,
    Column("invoice_id", String(_ID), _parent(), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("category", String(10), nullable=False),
    Column("rate", Exact(9, 4), nullable=False),
    Column("taxable_amount", Exact(), nullable=False),
    Column("tax_amount", Exact(), nullable=False),
    Column("exemption_reason", Text),
    Column("exemption_code", String(50)),
)

invoice_lineage = Table(
    "invoice_lineage", metadata,
    Column("invoice_id", String(_ID), _parent(), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("platform", String(50), nullable=False),
    Column("event_id", String(_ID), nullable=False),
    Column("event_type", String(_ID), nullable=False),
    Column("trigger", String(50), nullable=False),
    Column("order_key", String(_ID), nullable=False),
    Index("ix_invoice_lineage_event", "platform", "event_id"),
)

invoice_documents = Table(
    "invoice_documents", metadata,
    Column("invoice_id", String(_ID), _parent(), primary_key=True),
    Column("kind", String(50), primary_key=True, doc="pdf, ubl, cii, facturx, ..."),
    Column("digest", String(200), nullable=False, doc="as given by domain.documents.document_hashes"),
)

delivery_receipts = Table(
    "delivery_receipts", metadata,
    Column("receipt_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("invoice_id", String(_ID), nullable=False, index=True),
    Column("number", String(100), nullable=False),
    Column("target", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("external_id", Text),
    Column("attempts", Integer, nullable=False),
    Column("at", _TZ, nullable=False),
    Column("detail", Text),
    UniqueConstraint("invoice_id", "target", "status", "at", name="uq_delivery_receipts_event"),
)

email_messages = Table(
    "email_messages", metadata,
    Column("message_id", String(250), primary_key=True),
    Column("invoice_id", String(_ID), nullable=False, index=True),
    Column("number", String(100), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("sent_at", _TZ, nullable=False),
)

ALL_TABLES = (invoices, invoice_lines, invoice_taxes, invoice_lineage, invoice_documents, delivery_receipts,
              email_messages)
