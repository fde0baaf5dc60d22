"""Read-only views of the register's tables (sqladmin), under ``/register/``: invoices, delivery receipts
and the console's audit table, with sqladmin's sorting, search, paging and CSV export.

Nothing can be created, edited or deleted here (and `invoicing.console.auth.AuthMiddleware` refuses
anything but GET under ``/register/``); sign-in is the console's own.
"""
from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import Admin, ModelView
from sqlalchemy import Engine
from sqlalchemy.orm import DeclarativeBase
from starlette.applications import Starlette

from invoicing.console.accounts import console_audit
from invoicing.console.services import delivery_receipt_table, invoice_table

__all__ = ["mount_register_views"]


class _Base(DeclarativeBase):
    pass


class InvoiceRow(_Base):
    __table__ = invoice_table


class ReceiptRow(_Base):
    __table__ = delivery_receipt_table


class AuditRow(_Base):
    __table__ = console_audit


class _ReadOnly(ModelView):
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = True
    page_size = 50


class InvoiceView(_ReadOnly, model=InvoiceRow):
    name, name_plural, icon = "Invoice", "Invoices", "fa-solid fa-file-invoice"
    column_list: ClassVar[Any] = [invoice_table.c.number, invoice_table.c.document_type, invoice_table.c.issue_date,
                                  invoice_table.c.customer_id, invoice_table.c.buyer_name, invoice_table.c.currency,
                                  invoice_table.c.total, invoice_table.c.status, invoice_table.c.trigger]
    column_searchable_list: ClassVar[Any] = [invoice_table.c.number, invoice_table.c.customer_id,
                                             invoice_table.c.buyer_name]
    column_sortable_list: ClassVar[Any] = [invoice_table.c.number, invoice_table.c.issue_date, invoice_table.c.total,
                                           invoice_table.c.status]
    column_details_exclude_list: ClassVar[Any] = [invoice_table.c.document]
    column_default_sort: ClassVar[Any] = [(invoice_table.c.issued_at, True)]


class ReceiptView(_ReadOnly, model=ReceiptRow):
    name, name_plural, icon = "Delivery receipt", "Delivery receipts", "fa-solid fa-truck"
    column_list: ClassVar[Any] = [delivery_receipt_table.c.number, delivery_receipt_table.c.target,
                                  delivery_receipt_table.c.status, delivery_receipt_table.c.external_id,
                                  delivery_receipt_table.c.attempts, delivery_receipt_table.c.at,
                                  delivery_receipt_table.c.detail]
    column_searchable_list: ClassVar[Any] = [delivery_receipt_table.c.number, delivery_receipt_table.c.target,
                                             delivery_receipt_table.c.status]
    column_sortable_list: ClassVar[Any] = [delivery_receipt_table.c.at, delivery_receipt_table.c.target,
                                           delivery_receipt_table.c.status]
    column_default_sort: ClassVar[Any] = [(delivery_receipt_table.c.at, True)]


class AuditView(_ReadOnly, model=AuditRow):
    name, name_plural, icon = "Audit entry", "Audit", "fa-solid fa-user-shield"
    column_list: ClassVar[Any] = [console_audit.c.at, console_audit.c.username, console_audit.c.role,
                                  console_audit.c.action, console_audit.c.subject, console_audit.c.result,
                                  console_audit.c.detail, console_audit.c.address]
    column_searchable_list: ClassVar[Any] = [console_audit.c.username, console_audit.c.action, console_audit.c.subject]
    column_sortable_list: ClassVar[Any] = [console_audit.c.at, console_audit.c.username, console_audit.c.action]
    column_default_sort: ClassVar[Any] = [(console_audit.c.entry_id, True)]


def mount_register_views(app: Starlette, engine: Engine) -> Admin:
    admin = Admin(app, engine, base_url="/register", title="Invoice register (read-only)")
    for view in (InvoiceView, ReceiptView, AuditView):
        admin.add_view(view)
    return admin
