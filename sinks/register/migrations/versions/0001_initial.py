"""Initial register: invoices, lines, tax breakdown, lineage, document hashes, delivery receipts, sent e-mails.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 200


def money(precision: int = 22, scale: int = 4) -> sa.types.TypeEngine:  # type: ignore[type-arg]
    """Exact decimals: NUMERIC on PostgreSQL, decimal text on SQLite (whose NUMERIC would be a float)."""
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


def tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def child(name: str, *columns: sa.schema.SchemaItem) -> None:
    op.create_table(
        name,
        sa.Column("invoice_id", sa.String(ID), sa.ForeignKey("invoices.invoice_id", ondelete="CASCADE"), nullable=False),
        *columns,
    )


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.String(ID), primary_key=True),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("series", sa.String(ID), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("document_type", sa.String(20), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("supply_date", sa.Date),
        sa.Column("issued_at", tz(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("seller_id", sa.String(ID), nullable=False),
        sa.Column("seller_name", sa.Text, nullable=False),
        sa.Column("seller_vat_id", sa.String(50)),
        sa.Column("buyer_name", sa.Text, nullable=False),
        sa.Column("buyer_vat_id", sa.String(50)),
        sa.Column("buyer_email", sa.String(320)),
        sa.Column("buyer_reference", sa.Text),
        sa.Column("purchase_order", sa.Text),
        sa.Column("preceding_invoice", sa.String(100)),
        *(sa.Column(name, money(), nullable=False) for name in (
            "line_total", "charge_total", "tax_exclusive_total", "tax_total", "total", "prepaid", "amount_due")),
        sa.Column("payment_terms_code", sa.String(50), nullable=False),
        sa.Column("trigger", sa.String(50), nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("recorded_at", tz(), nullable=False),
    )
    op.create_index("ix_invoices_number", "invoices", ["number"])
    op.create_index("ix_invoices_issue_date", "invoices", ["issue_date"])
    op.create_index("ix_invoices_customer_id", "invoices", ["customer_id"])
    op.create_index("ix_invoices_status", "invoices", ["status"])

    child("invoice_lines",
          sa.Column("position", sa.Integer, nullable=False),
          sa.Column("line_id", sa.String(ID), nullable=False),
          sa.Column("order_key", sa.String(ID), nullable=False),
          sa.Column("sku", sa.String(ID)),
          sa.Column("description", sa.Text, nullable=False),
          sa.Column("quantity", money(), nullable=False),
          sa.Column("unit_code", sa.String(10), nullable=False),
          sa.Column("unit_price", money(), nullable=False),
          sa.Column("allowance", money(), nullable=False),
          sa.Column("net_amount", money(), nullable=False),
          sa.Column("tax_category", sa.String(10), nullable=False),
          sa.Column("tax_rate", money(9, 4), nullable=False),
          sa.PrimaryKeyConstraint("invoice_id", "position"))
    child("invoice_taxes",
          sa.Column("position", sa.Integer, nullable=False),
          sa.Column("category", sa.String(10), nullable=False),
          sa.Column("rate", money(9, 4), nullable=False),
          sa.Column("taxable_amount", money(), nullable=False),
          sa.Column("tax_amount", money(), nullable=False),
          sa.Column("exemption_reason", sa.Text),
          sa.Column("exemption_code", sa.String(50)),
          sa.PrimaryKeyConstraint("invoice_id", "position"))
    child("invoice_lineage",
          sa.Column("position", sa.Integer, nullable=False),
          sa.Column("platform", sa.String(50), nullable=False),
          sa.Column("event_id", sa.String(ID), nullable=False),
          sa.Column("event_type", sa.String(ID), nullable=False),
          sa.Column("trigger", sa.String(50), nullable=False),
          sa.Column("order_key", sa.String(ID), nullable=False),
          sa.PrimaryKeyConstraint("invoice_id", "position"))
    op.create_index("ix_invoice_lineage_event", "invoice_lineage", ["platform", "event_id"])
    child("invoice_documents",
          sa.Column("kind", sa.String(50), nullable=False),
          sa.Column("digest", sa.String(200), nullable=False),
          sa.PrimaryKeyConstraint("invoice_id", "kind"))

    op.create_table(
        "delivery_receipts",
        sa.Column("receipt_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("invoice_id", sa.String(ID), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("at", tz(), nullable=False),
        sa.Column("detail", sa.Text),
        sa.UniqueConstraint("invoice_id", "target", "status", "at", name="uq_delivery_receipts_event"),
    )
    op.create_index("ix_delivery_receipts_invoice_id", "delivery_receipts", ["invoice_id"])

    op.create_table(
        "email_messages",
        sa.Column("message_id", sa.String(250), primary_key=True),
        sa.Column("invoice_id", sa.String(ID), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("sent_at", tz(), nullable=False),
    )
    op.create_index("ix_email_messages_invoice_id", "email_messages", ["invoice_id"])


def downgrade() -> None:
    for name in ("email_messages", "delivery_receipts", "invoice_documents", "invoice_lineage", "invoice_taxes",
                 "invoice_lines", "invoices"):
        op.drop_table(name)
