"""Writing to and reading from the invoice register. Every write is idempotent.

* `record_invoice`: the invoice, its lines, tax breakdown, lineage and document
  hashes. Keyed by ``invoice_id``: a replay of the same invoice changes nothing;
  an invoice recorded again with other content replaces the old rows (logged).
* `record_receipts`: delivery receipts, unique on (invoice, target, status, at),
  so a replayed receipt is not stored twice. The invoice's ``status`` follows the
  latest receipt of each target: ISSUED, PARTIAL, DELIVERED or PARKED.
* `record_email` / `email_sent`: Message-IDs the e-mail sink has sent.

Functions are synchronous (SQLAlchemy Core); async callers use ``asyncio.to_thread``.
Example::

    engine = open_register(Settings())
    record_invoice(engine, invoice, {"pdf": "sha256:..."})
    get_by_number(engine, "INV-2026-000001")["status"]
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping, TextIO

from sqlalchemy import Connection, Engine, Table, delete, func, or_, select, update

from domain.jsonify import from_jsonable, to_jsonable
from sinks.register.tables import (ALL_TABLES, delivery_receipts, email_messages, invoice_documents,
                                       invoice_lineage, invoice_lines, invoice_taxes, invoices)

__all__ = ["record_invoice", "record_receipt", "record_receipts", "record_email", "email_sent", "has_invoice",
           "get_by_number", "search", "export_csv", "row_counts", "content_hash", "stored_invoices", "STATUSES", "CSV_COLUMNS"]

log = logging.getLogger("sinks.register")

STATUSES = ("ISSUED", "PARTIAL", "DELIVERED", "PARKED")
_OK = {"DELIVERED", "ALREADY_PRESENT", "NOT_APPLICABLE"}
_CHILDREN = (invoice_lines, invoice_taxes, invoice_lineage, invoice_documents)
_MONEY = ("line_total", "charge_total", "tax_exclusive_total", "tax_total", "total", "prepaid", "amount_due")


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT (both have ON CONFLICT)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _inserted(conn: Connection, stmt: Any, table: Table) -> bool:
    """Run an INSERT .. ON CONFLICT; whether it wrote a row (RETURNING, as psycopg's rowcount is -1 here)."""
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.returning(key)).first() is not None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def content_hash(invoice: Mapping[str, Any]) -> tuple[str, str]:
    """(sha256 hex, canonical JSON) of *invoice*."""
    doc = json.dumps(to_jsonable(dict(invoice)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest(), doc


def _invoice_row(invoice: Mapping[str, Any], digest: str, doc: str) -> dict[str, Any]:
    seller, buyer = invoice["seller"], invoice["buyer"]
    return {
        "invoice_id": invoice["invoice_id"], "number": invoice["number"], "series": invoice["series"],
        "sequence": invoice["sequence"], "document_type": str(invoice["document_type"]),
        "issue_date": invoice["issue_date"], "due_date": invoice["due_date"], "supply_date": invoice.get("supply_date"),
        "issued_at": _utc(invoice["issued_at"]), "currency": invoice["currency"], "customer_id": invoice["customer_id"],
        "seller_id": seller["party_id"], "seller_name": seller["name"], "seller_vat_id": seller.get("vat_id"),
        "buyer_name": buyer["name"], "buyer_vat_id": buyer.get("vat_id"), "buyer_email": buyer.get("email"),
        "buyer_reference": invoice.get("buyer_reference"), "purchase_order": invoice.get("purchase_order"),
        "preceding_invoice": invoice.get("preceding_invoice"),
        **{k: invoice[k] for k in _MONEY},
        "payment_terms_code": invoice.get("payment_terms_code") or "", "trigger": invoice["trigger"],
        "targets": json.dumps(list(invoice.get("targets") or [])), "content_hash": digest, "document": doc,
    }


def _children(invoice: Mapping[str, Any]) -> Iterable[tuple[Table, list[dict[str, Any]]]]:
    iid = invoice["invoice_id"]
    line_keys = ("line_id", "order_key", "sku", "description", "quantity", "unit_code", "unit_price", "allowance",
                 "net_amount", "tax_category", "tax_rate")
    yield invoice_lines, [{"invoice_id": iid, "position": i, **{k: ln.get(k) for k in line_keys}}
                          for i, ln in enumerate(invoice["lines"], 1)]
    tax_keys = ("category", "rate", "taxable_amount", "tax_amount", "exemption_reason", "exemption_code")
    yield invoice_taxes, [{"invoice_id": iid, "position": i, **{k: t.get(k) for k in tax_keys}}
                          for i, t in enumerate(invoice["tax_breakdown"], 1)]
    src_keys = ("platform", "event_id", "event_type", "trigger", "order_key")
    yield invoice_lineage, [{"invoice_id": iid, "position": i, **{k: s[k] for k in src_keys}}
                            for i, s in enumerate(invoice["lineage"], 1)]


def record_invoice(engine: Engine, invoice: Mapping[str, Any], document_hashes: Mapping[str, str] | None = None) -> bool:
    """Record *invoice* with its lines, tax breakdown, lineage and *document_hashes*; True when anything changed.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused or cannot be reached.
    """
    iid = invoice["invoice_id"]
    digest, doc = content_hash(invoice)
    row = _invoice_row(invoice, digest, doc)
    changed = False
    with engine.begin() as conn:
        existing = conn.execute(select(invoices.c.content_hash).where(invoices.c.invoice_id == iid)).scalar_one_or_none()
        if existing is None:
            stmt = _insert(conn, invoices).values(**row, status="ISSUED", recorded_at=datetime.now(timezone.utc))
            changed = _inserted(conn, stmt.on_conflict_do_nothing(index_elements=["invoice_id"]), invoices)
        elif existing != digest:
            log.warning("register: invoice %s recorded again with other content; its rows are replaced", invoice["number"])
            conn.execute(update(invoices).where(invoices.c.invoice_id == iid).values(**row))
            for table in _CHILDREN:
                conn.execute(delete(table).where(table.c.invoice_id == iid))
            changed = True
        if changed:
            for table, rows in _children(invoice):
                for r in rows:
                    conn.execute(_insert(conn, table).values(**r).on_conflict_do_nothing(
                        index_elements=["invoice_id", "position"]))
        for kind, value in sorted((document_hashes or {}).items()):
            stmt = _insert(conn, invoice_documents).values(invoice_id=iid, kind=kind, digest=value)
            stmt = stmt.on_conflict_do_update(index_elements=["invoice_id", "kind"], set_={"digest": stmt.excluded.digest},
                                              where=invoice_documents.c.digest != stmt.excluded.digest)
            changed = _inserted(conn, stmt, invoice_documents) or changed
        _refresh_status(conn, iid)
    return changed


def _refresh_status(conn: Connection, invoice_id: str) -> None:
    targets_json = conn.execute(select(invoices.c.targets).where(invoices.c.invoice_id == invoice_id)).scalar_one_or_none()
    if targets_json is None:
        return
    latest: dict[str, str] = {}
    for target, status in conn.execute(select(delivery_receipts.c.target, delivery_receipts.c.status)
                                       .where(delivery_receipts.c.invoice_id == invoice_id)
                                       .order_by(delivery_receipts.c.at, delivery_receipts.c.receipt_id)):
        latest[target] = status
    wanted = set(json.loads(targets_json)) | set(latest)
    if any(s not in _OK for s in latest.values()):
        status = "PARKED"
    elif wanted and all(latest.get(t) in _OK for t in wanted):
        status = "DELIVERED"
    else:
        status = "PARTIAL" if latest else "ISSUED"
    conn.execute(update(invoices).where(invoices.c.invoice_id == invoice_id, invoices.c.status != status)
                 .values(status=status))


def record_receipts(engine: Engine, receipts: Iterable[Mapping[str, Any]]) -> int:
    """Record delivery receipts (fields of schemas/delivery_receipt.avsc); returns how many were new.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused or cannot be reached.
    """
    added = 0
    touched: set[str] = set()
    keys = ("invoice_id", "number", "target", "external_id", "attempts", "detail")
    with engine.begin() as conn:
        for rec in receipts:
            row = {k: rec.get(k) for k in keys}
            row.update(status=str(rec["status"]), at=_utc(rec["at"]))
            stmt = _insert(conn, delivery_receipts).values(**row).on_conflict_do_nothing(
                index_elements=["invoice_id", "target", "status", "at"])
            if _inserted(conn, stmt, delivery_receipts):
                added += 1
                touched.add(str(row["invoice_id"]))
        for iid in sorted(touched):
            _refresh_status(conn, iid)
    return added


def record_receipt(engine: Engine, receipt: Mapping[str, Any]) -> bool:
    """One receipt; True when it was new."""
    return record_receipts(engine, [receipt]) == 1


def record_email(engine: Engine, message_id: str, invoice: Mapping[str, Any], recipient: str) -> bool:
    """Note that *message_id* was handed to the SMTP server; True when it was new."""
    with engine.begin() as conn:
        stmt = _insert(conn, email_messages).values(message_id=message_id, invoice_id=invoice["invoice_id"],
                                                    number=invoice["number"], recipient=recipient,
                                                    sent_at=datetime.now(timezone.utc))
        return _inserted(conn, stmt.on_conflict_do_nothing(index_elements=["message_id"]), email_messages)


def email_sent(engine: Engine, message_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(email_messages.c.message_id).where(email_messages.c.message_id == message_id)).first() is not None


def has_invoice(engine: Engine, invoice_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(invoices.c.invoice_id).where(invoices.c.invoice_id == invoice_id)).first() is not None


def _rows(conn: Connection, table: Table, invoice_id: str, *order: Any) -> list[dict[str, Any]]:
    stmt = select(table).where(table.c.invoice_id == invoice_id).order_by(*order)
    return [{k: v for k, v in dict(r).items() if k != "invoice_id"} for r in conn.execute(stmt).mappings()]


def get_by_number(engine: Engine, number: str) -> dict[str, Any] | None:
    """Everything the register holds on invoice *number*: the invoice's columns plus
    ``lines``, ``tax_breakdown``, ``lineage``, ``documents``, ``receipts``, ``emails``."""
    with engine.connect() as conn:
        row = conn.execute(select(invoices).where(invoices.c.number == number)
                           .order_by(invoices.c.issued_at)).mappings().first()
        if row is None:
            return None
        out = {k: v for k, v in dict(row).items() if k != "document"}
        iid = out["invoice_id"]
        out["targets"] = json.loads(out["targets"])
        out["issued_at"] = _utc(out["issued_at"])
        out["lines"] = _rows(conn, invoice_lines, iid, invoice_lines.c.position)
        out["tax_breakdown"] = _rows(conn, invoice_taxes, iid, invoice_taxes.c.position)
        out["lineage"] = _rows(conn, invoice_lineage, iid, invoice_lineage.c.position)
        out["documents"] = {r["kind"]: r["digest"] for r in _rows(conn, invoice_documents, iid, invoice_documents.c.kind)}
        out["receipts"] = [dict(r, at=_utc(r["at"])) for r in _rows(conn, delivery_receipts, iid, delivery_receipts.c.at,
                                                                    delivery_receipts.c.receipt_id)]
        out["emails"] = [dict(r, sent_at=_utc(r["sent_at"])) for r in _rows(conn, email_messages, iid, email_messages.c.sent_at)]
        return out


_SUMMARY = ("number", "invoice_id", "document_type", "issue_date", "due_date", "customer_id", "buyer_name", "currency",
            "tax_exclusive_total", "tax_total", "total", "amount_due", "status")


def _filters(date_from: date | None, date_to: date | None) -> list[Any]:
    where: list[Any] = []
    if date_from is not None:
        where.append(invoices.c.issue_date >= date_from)
    if date_to is not None:
        where.append(invoices.c.issue_date <= date_to)
    return where


def search(engine: Engine, *, customer: str | None = None, date_from: date | None = None, date_to: date | None = None,
           status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Invoice summaries by issue date then number. *customer* matches the customer id,
    the buyer's e-mail, or part of the buyer's name (case-insensitive)."""
    where = _filters(date_from, date_to)
    if customer:
        where.append(or_(invoices.c.customer_id == customer, func.lower(invoices.c.buyer_email) == customer.lower(),
                         func.lower(invoices.c.buyer_name).contains(customer.lower(), autoescape=True)))
    if status:
        where.append(invoices.c.status == status.upper())
    stmt = (select(*(invoices.c[k] for k in _SUMMARY)).where(*where)
            .order_by(invoices.c.issue_date, invoices.c.number).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


CSV_COLUMNS = ("number", "invoice_id", "document_type", "series", "sequence", "issue_date", "due_date", "supply_date",
               "currency", "seller_id", "seller_vat_id", "customer_id", "buyer_name", "buyer_vat_id", *_MONEY,
               "preceding_invoice", "status", "content_hash", "documents", "source_events", "deliveries")


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return str(v)


def export_csv(engine: Engine, out: TextIO, *, date_from: date | None = None, date_to: date | None = None) -> int:
    """Write one CSV row per invoice (by series, then sequence) for auditors; returns the row count.

    ``documents`` is ``kind=digest;...``, ``source_events`` ``platform:event_id;...``,
    ``deliveries`` the latest ``target=status;...``.
    """
    where = _filters(date_from, date_to)
    ids = select(invoices.c.invoice_id).where(*where).scalar_subquery()
    docs: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    latest: dict[str, dict[str, str]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(invoice_documents).where(invoice_documents.c.invoice_id.in_(ids))
                              .order_by(invoice_documents.c.kind)):
            docs.setdefault(r.invoice_id, []).append(f"{r.kind}={r.digest}")
        for r in conn.execute(select(invoice_lineage).where(invoice_lineage.c.invoice_id.in_(ids))
                              .order_by(invoice_lineage.c.position)):
            sources.setdefault(r.invoice_id, []).append(f"{r.platform}:{r.event_id}")
        for r in conn.execute(select(delivery_receipts).where(delivery_receipts.c.invoice_id.in_(ids))
                              .order_by(delivery_receipts.c.at, delivery_receipts.c.receipt_id)):
            latest.setdefault(r.invoice_id, {})[r.target] = r.status
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for m in conn.execute(select(invoices).where(*where).order_by(invoices.c.series, invoices.c.sequence)).mappings():
            iid = m["invoice_id"]
            extra = {"documents": ";".join(docs.get(iid, [])), "source_events": ";".join(sources.get(iid, [])),
                     "deliveries": ";".join(f"{t}={s}" for t, s in sorted(latest.get(iid, {}).items()))}
            writer.writerow([_csv_value(extra[c] if c in extra else m[c]) for c in CSV_COLUMNS])
            count += 1
    return count


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per register table."""
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in ALL_TABLES}


def stored_invoices(engine: Engine, *, batch: int = 500) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Every invoice in the register as issued (its stored canonical record), with the digests of the
    documents recorded for it, in number order."""
    last = ""
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(invoices.c.invoice_id, invoices.c.number, invoices.c.document)
                                .where(invoices.c.number > last).order_by(invoices.c.number).limit(batch)).all()
            ids = [r.invoice_id for r in rows]
            digests: dict[str, dict[str, str]] = {}
            for d in conn.execute(select(invoice_documents).where(invoice_documents.c.invoice_id.in_(ids))):
                digests.setdefault(d.invoice_id, {})[d.kind] = d.digest
        if not rows:
            return
        for r in rows:
            yield from_jsonable("invoice", json.loads(r.document)), digests.get(r.invoice_id, {})
        last = rows[-1].number
