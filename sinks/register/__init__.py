"""The invoice register: every invoice, its lines, lineage, document hashes and delivery receipts in SQL.

SQLite by default (``invoicing-register.db``, zero set-up), PostgreSQL when
``INVOICING_REGISTER_DSN`` is given. Alembic migrations live in ``migrations/``
inside this package and run on first use (`open_register`) or with
``invoicing register migrate``. Writes are idempotent: replays change nothing.
"""
from __future__ import annotations

from sinks.register.engine import (current_revision, describe, dispose_all, head_revision, migrate, open_register,
                                       register_in_use, register_url)
from sinks.register.store import (email_sent, export_csv, get_by_number, has_invoice, record_email, record_invoice,
                                      record_receipt, record_receipts, row_counts, search)

__all__ = ["open_register", "migrate", "register_url", "register_in_use", "describe", "current_revision",
           "head_revision", "dispose_all", "record_invoice", "record_receipt", "record_receipts", "record_email",
           "email_sent", "has_invoice", "get_by_number", "search", "export_csv", "row_counts"]
