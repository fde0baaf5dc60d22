"""Everything the console asks of the pipeline, in one module.

This is the only module of the console that imports the pipeline's code (register in `sinks.register`,
dead-letter topic, cycles, codec, documents, audit); the pages import from here. It imports
no command-line module (``invoicing.cli``, ``invoicing.*_cli``): those sit beside the console
on the operator surface, and ``invoicing.cli`` loads the console's command. Reads
of the register are synchronous (call them with ``asyncio.to_thread``); reads and writes
of topics are async and bounded by `KAFKA_TIMEOUT`.

What the operator buttons do is what the command line does:

* replay: `infra.dead_letters.replay` (the original bytes back to their topic, recorded on the
  compacted ``dead-letters.replayed`` topic so a second replay sends nothing);
* close now: a close command for one customer on the ``cycle-orders`` topic, as of the cycle's
  end (what ``invoicing cycle close --customer ID --at END`` sends);
* re-send: the invoice (as recorded) onto ``invoicing.redeliver`` with a ``target`` header,
  as a replayed delivery is: the deliver agent sends it to that target unless a receipt
  already says it is there.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Awaitable, Iterable, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, or_, select

from domain.audit import AuditReport, audit_numbers
from infra.broker import ensure_topics, producer as new_producer
from domain.codec import decode, encode
from infra.dead_letters import DeadLetterEntry, matches, read_dead_letters, replay
from domain.documents import rendered
from domain.errors import CodecError, ConfigError, PipelineError
from domain.jsonify import from_jsonable
from infra.kafka_read import read_all, read_invoices
from domain.money import round_amount
from sinks.register.engine import db_error_text, describe, open_register, register_url
from sinks.register.store import STATUSES
from sinks.register.tables import (delivery_receipts, invoice_documents, invoice_lineage, invoice_lines,
                                       invoice_taxes, invoices)
from domain.settings import Settings, load_settings
from domain.topics import Topics
from streams.cycles import close_command

__all__ = [
    "Settings", "load_settings", "ConfigError", "PipelineError", "open_register", "describe_register", "db_error_text", "STATUSES", "KAFKA_TIMEOUT",
    "InvoiceQuery", "search_invoices", "filter_choices", "invoice_detail", "invoice_documents_of",
    "DeadLetter", "dead_letters", "pending_dead_letters", "replay_dead_letters",
    "OpenCycle", "open_cycles", "close_cycle_now", "resend_invoice", "numbering_audit", "AuditReport",
    "Health", "health", "bounded", "OK_STATUSES", "invoice_table", "delivery_receipt_table",
]

#: seconds any one read or write of the topics may take before the page says the broker did not answer
KAFKA_TIMEOUT = 20.0
OK_STATUSES = frozenset({"DELIVERED", "ALREADY_PRESENT", "NOT_APPLICABLE"})
#: the register's tables, for the read-only table views
invoice_table, delivery_receipt_table = invoices, delivery_receipts
T = TypeVar("T")


async def bounded(aw: Awaitable[T], what: str, timeout: float = KAFKA_TIMEOUT) -> T:
    """*aw*, or a `PipelineError` naming *what* when the broker does not answer in *timeout* seconds."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise PipelineError(f"{what}: the broker did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise PipelineError(f"{what}: the broker cannot be reached ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - aiokafka's errors have no common base worth naming here
        if type(exc).__module__.startswith("aiokafka"):
            raise PipelineError(f"{what}: the broker refused or cannot be reached ({type(exc).__name__})") from None
        raise


def describe_register(settings: Settings) -> str:
    return describe(register_url(settings))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# -- invoices ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceQuery:
    customer: str = ""
    number: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    platform: str = ""
    target: str = ""
    limit: int = 200

    @property
    def empty(self) -> bool:
        return not any((self.customer, self.number, self.date_from, self.date_to, self.status, self.platform,
                        self.target))


_LIST_COLUMNS = ("invoice_id", "number", "document_type", "issue_date", "issued_at", "customer_id", "buyer_name",
                 "currency", "total", "status", "trigger", "targets", "preceding_invoice")


def search_invoices(engine: Engine, q: InvoiceQuery) -> list[dict[str, Any]]:
    """Invoice summaries, newest first, with ``platforms`` (from the lineage) and ``targets``."""
    where: list[Any] = []
    if q.customer:
        c = q.customer.strip().lower()
        where.append(or_(func.lower(invoices.c.customer_id) == c, func.lower(invoices.c.buyer_email) == c,
                         func.lower(invoices.c.buyer_name).contains(c, autoescape=True)))
    if q.number:
        where.append(func.lower(invoices.c.number).contains(q.number.strip().lower(), autoescape=True))
    if q.date_from:
        where.append(invoices.c.issue_date >= q.date_from)
    if q.date_to:
        where.append(invoices.c.issue_date <= q.date_to)
    if q.status:
        where.append(invoices.c.status == q.status.upper())
    if q.platform:
        where.append(invoices.c.invoice_id.in_(select(invoice_lineage.c.invoice_id)
                                               .where(invoice_lineage.c.platform == q.platform)))
    if q.target:
        where.append(or_(invoices.c.targets.contains(json.dumps(q.target), autoescape=True),
                         invoices.c.invoice_id.in_(select(delivery_receipts.c.invoice_id)
                                                   .where(delivery_receipts.c.target == q.target))))
    stmt = (select(*(invoices.c[k] for k in _LIST_COLUMNS)).where(*where)
            .order_by(invoices.c.issued_at.desc(), invoices.c.number.desc()).limit(q.limit))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
        ids = [r["invoice_id"] for r in rows]
        platforms: dict[str, set[str]] = defaultdict(set)
        if ids:
            for iid, platform in conn.execute(select(invoice_lineage.c.invoice_id, invoice_lineage.c.platform)
                                              .where(invoice_lineage.c.invoice_id.in_(ids))):
                platforms[iid].add(platform)
    for r in rows:
        r["platforms"] = sorted(platforms[r["invoice_id"]])
        r["targets"] = json.loads(r["targets"])
        r["issued_at"] = _utc(r["issued_at"])
    return rows


def filter_choices(engine: Engine) -> dict[str, list[str]]:
    """The platforms and targets the register has seen, for the search form."""
    with engine.connect() as conn:
        platforms = sorted(p for (p,) in conn.execute(select(invoice_lineage.c.platform).distinct()))
        targets = set(t for (t,) in conn.execute(select(delivery_receipts.c.target).distinct()))
        for (raw,) in conn.execute(select(invoices.c.targets).distinct()):
            targets.update(json.loads(raw))
    return {"platforms": platforms, "targets": sorted(targets), "statuses": list(STATUSES)}


def _children(conn: Any, table: Any, invoice_id: str, *order: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in dict(r).items() if k != "invoice_id"}
            for r in conn.execute(select(table).where(table.c.invoice_id == invoice_id).order_by(*order)).mappings()]


def _deliveries(targets: Iterable[str], receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per target: latest status, the target's id of the invoice, attempts, last error, history."""
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in receipts:
        by_target[r["target"]].append(r)
    out = []
    for target in list(dict.fromkeys([*targets, *by_target])):
        history = by_target.get(target, [])
        latest = history[-1] if history else None
        errors = [r for r in history if r["status"] not in OK_STATUSES]
        out.append({
            "target": target,
            "status": latest["status"] if latest else "PENDING",
            "ok": bool(latest and latest["status"] in OK_STATUSES),
            "external_id": next((r["external_id"] for r in reversed(history) if r["external_id"]), None),
            "attempts": latest["attempts"] if latest else 0,
            "at": latest["at"] if latest else None,
            "last_error": errors[-1]["detail"] if errors and (not latest or latest["status"] not in OK_STATUSES
                                                               or errors[-1] is not latest) else None,
            "history": history,
        })
    return out


def invoice_detail(engine: Engine, invoice_id: str) -> dict[str, Any] | None:
    """The invoice's columns, ``lines``, ``tax_breakdown``, ``lineage``, ``documents`` (hashes),
    ``deliveries`` (one per target), ``credited`` (the invoice a credit note corrects) and
    ``credit_notes`` (credit notes that correct this invoice)."""
    with engine.connect() as conn:
        row = conn.execute(select(invoices).where(invoices.c.invoice_id == invoice_id)).mappings().first()
        if row is None:
            return None
        out = {k: v for k, v in dict(row).items() if k != "document"}
        out["targets"] = json.loads(out["targets"])
        out["issued_at"] = _utc(out["issued_at"])
        out["lines"] = _children(conn, invoice_lines, invoice_id, invoice_lines.c.position)
        out["tax_breakdown"] = _children(conn, invoice_taxes, invoice_id, invoice_taxes.c.position)
        out["lineage"] = _children(conn, invoice_lineage, invoice_id, invoice_lineage.c.position)
        out["documents"] = {r["kind"]: r["digest"] for r in _children(conn, invoice_documents, invoice_id,
                                                                      invoice_documents.c.kind)}
        receipts = [dict(r, at=_utc(r["at"])) for r in _children(conn, delivery_receipts, invoice_id,
                                                                  delivery_receipts.c.at, delivery_receipts.c.receipt_id)]
        link = (invoices.c.invoice_id, invoices.c.number, invoices.c.issue_date, invoices.c.total, invoices.c.currency,
                invoices.c.status)
        out["credited"] = None
        if out["preceding_invoice"]:
            credited = conn.execute(select(*link).where(invoices.c.number == out["preceding_invoice"],
                                                        invoices.c.seller_id == out["seller_id"])).mappings().first()
            out["credited"] = dict(credited) if credited else {"number": out["preceding_invoice"], "invoice_id": None}
        out["credit_notes"] = [dict(r) for r in conn.execute(
            select(*link).where(invoices.c.preceding_invoice == out["number"], invoices.c.seller_id == out["seller_id"])
            .order_by(invoices.c.issued_at)).mappings()]
    out["deliveries"] = _deliveries(out["targets"], receipts)
    out["platforms"] = sorted({s["platform"] for s in out["lineage"]})
    return out


def _record(engine: Engine, invoice_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        doc = conn.execute(select(invoices.c.document).where(invoices.c.invoice_id == invoice_id)).scalar_one_or_none()
    if doc is None:
        return None
    record: dict[str, Any] = from_jsonable("invoice", json.loads(doc))
    return record


def invoice_documents_of(engine: Engine, invoice_id: str) -> tuple[str, bytes, bytes] | None:
    """(number, PDF, UBL XML) of the invoice as the register recorded it; rendered as the sinks render them."""
    record = _record(engine, invoice_id)
    if record is None:
        return None
    docs = rendered(record)
    return str(record["number"]), docs.pdf, docs.ubl


async def resend_invoice(settings: Settings, bootstrap: str, engine: Engine, invoice_id: str, target: str) -> str:
    """Put the invoice on the redeliver topic for *target*; returns its number.

    Raises:
        PipelineError: unknown invoice, a target the invoice is not routed to, or the broker did not take it.
    """
    record = await asyncio.to_thread(_record, engine, invoice_id)
    if record is None:
        raise PipelineError(f"invoice {invoice_id} is not in the register")
    if target not in list(record.get("targets") or []):
        raise PipelineError(f"invoice {record['number']} is not routed to {target!r} (its targets: "
                            f"{', '.join(record.get('targets') or []) or 'none'})")
    value = encode("invoice", record)
    topic = Topics.from_settings(settings).redeliver

    async def send() -> None:
        producer = new_producer(settings, bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=invoice_id.encode(), headers=[("target", target.encode())])
        finally:
            await producer.stop()

    await bounded(send(), "re-send")
    return str(record["number"])


# -- dead letters ----------------------------------------------------------------------------------------

def _advice(stage: str, target: str | None, platform: str | None) -> str:
    """What the person who must act on a dead letter does about it."""
    if stage.startswith("deliver"):
        return (f"The invoice is issued and numbered; only its delivery to {target or 'the target'} failed. Fix what the "
                f"reason names in {target or 'that system'} (its credentials, the customer or item there, or the "
                "target being down), then replay: the invoice goes to that target only, never twice.")
    if stage in ("normalise", "fetch"):
        return (f"The event from {platform or 'the platform'} could not be read, so no order was made from it. If the "
                "reason names the platform's settings (secret, API address, credentials), fix them; if it names the "
                "event's content, fix the order on the platform. Then replay.")
    if stage == "cycles":
        return ("This customer's billing cycle could not be invoiced and stays open. Fix what the reason names "
                "(usually the customer's or a product's reference data), load the reference data, then replay.")
    return ("The order could not be invoiced and took no number. Fix what the reason names (usually reference data: "
            "the customer, the seller, a tax rate or a product), load the reference data, then replay.")


@dataclass(frozen=True)
class DeadLetter:
    position: str
    stage: str
    reason: str
    advice: str
    platform: str | None
    target: str | None
    failed_at: datetime | None
    replayed: bool
    replayable: bool
    attempts: int
    retriable: bool
    kind: str | None
    invoice_id: str | None = None
    number: str | None = None

    @property
    def where(self) -> str:
        return self.target or self.platform or ""

    def age(self, now: datetime | None = None) -> str:
        if self.failed_at is None:
            return "?"
        seconds = max(0, int(((now or datetime.now(timezone.utc)) - self.failed_at).total_seconds()))
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"


def _dead_letter(entry: DeadLetterEntry) -> DeadLetter:
    rec, stage = entry.record, str(entry.record.get("stage") or "?")
    invoice_id = number = None
    if stage.startswith("deliver") and rec.get("value"):
        try:
            inv = decode("invoice", rec["value"])
            invoice_id, number = str(inv["invoice_id"]), str(inv["number"])
        except (CodecError, KeyError):
            pass
    failed = rec.get("failed_at")
    return DeadLetter(position=entry.position, stage=stage, reason=str(rec.get("reason") or ""),
                      advice=_advice(stage, rec.get("target"), rec.get("platform")), platform=rec.get("platform"),
                      target=rec.get("target"), failed_at=_utc(failed) if isinstance(failed, datetime) else None,
                      replayed=entry.replayed, replayable=bool(rec.get("topic")), attempts=int(rec.get("attempts") or 1),
                      retriable=bool(rec.get("retriable")), kind=rec.get("kind"), invoice_id=invoice_id, number=number)


def _newest_first(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    return sorted(letters, key=lambda d: d.failed_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True)


async def _entries(settings: Settings, bootstrap: str) -> list[DeadLetterEntry]:
    return await bounded(read_dead_letters(settings, bootstrap), "reading the dead-letter topic")


async def dead_letters(settings: Settings, bootstrap: str) -> list[DeadLetter]:
    """Every dead letter, newest first."""
    return _newest_first(_dead_letter(e) for e in await _entries(settings, bootstrap))


async def pending_dead_letters(settings: Settings, bootstrap: str, *, stage: str | None = None,
                               target: str | None = None, position: str | None = None) -> list[DeadLetter]:
    """What a replay with this selection would send (`infra.dead_letters.replay`'s selection: stage by prefix,
    target exactly, or one position): matching, replayable, not yet replayed."""
    return _newest_first(_dead_letter(e) for e in await _entries(settings, bootstrap)
                         if not e.replayed and e.record.get("topic") and matches(e.record, stage, target)
                         and (not position or e.position == position))


async def replay_dead_letters(settings: Settings, bootstrap: str, *, stage: str | None = None,
                              target: str | None = None, position: str | None = None) -> int:
    """Replay the selection (see `pending_dead_letters`); returns how many were sent back."""
    if not (stage or target or position):
        raise PipelineError("say which dead letters to replay: one, or all of a target or a stage")
    return await bounded(replay(settings, bootstrap, stage=stage, target=target,
                                positions={position} if position else None), "replay")


# -- billing cycles --------------------------------------------------------------------------------------

@dataclass
class OpenCycle:
    customer_id: str
    customer_name: str
    cycle_id: str
    closes_at: datetime
    orders: int
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def overdue(self) -> bool:
        return self.closes_at <= datetime.now(timezone.utc)


def _latest(messages: Iterable[Any]) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    for m in messages:
        if m.key is not None:
            out[m.key] = m.value
    return out


def _order_net(raw: bytes) -> tuple[str, Decimal]:
    order = decode("order_event", raw)
    cur = str(order["currency"])
    net = sum((round_amount(ln["quantity"] * ln["unit_price"] - ln["discount"], cur) for ln in order["lines"]),
              Decimal(0))
    return cur, net + (order.get("shipping") or Decimal(0))


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog topic Faust keeps for the worker's table *table*."""
    return f"{settings.app_id}-{table}-changelog"


async def open_cycles(settings: Settings, bootstrap: str) -> list[OpenCycle]:
    """Every open billing cycle, from the ``cycles`` and ``cycle-orders`` tables' changelogs (the worker's state
    as of its last write), by closing time. Amounts are the orders' net amounts (lines and shipping, before tax)."""
    async def read() -> tuple[list[Any], list[Any], list[Any]]:
        return (await read_all(bootstrap, changelog_topic(settings, "cycles")),
                await read_all(bootstrap, changelog_topic(settings, "cycle-orders")),
                await read_all(bootstrap, Topics.from_settings(settings).customers))

    states, bodies, customers = await bounded(read(), "reading the billing cycles")
    body_of = _latest(bodies)
    names: dict[str, str] = {}
    for key, value in _latest(customers).items():
        if value:
            try:
                names[key.decode()] = str(json.loads(value).get("name") or "")
            except ValueError:
                pass
    out = []
    for key, value in _latest(states).items():
        if not value:
            continue
        customer = key.decode()
        for cycle_id, c in json.loads(value).get("cycles", {}).items():
            if c.get("status") != "open" or not c.get("orders"):
                continue
            cycle = OpenCycle(customer, names.get(customer, ""), cycle_id,
                              datetime.fromtimestamp(c["end_ms"] / 1000, timezone.utc), len(c["orders"]))
            for order_key in c["orders"]:
                raw = body_of.get(f"{customer}|{cycle_id}|{order_key}".encode())
                if raw:
                    try:
                        cur, net = _order_net(raw)
                    except (CodecError, KeyError, TypeError, ArithmeticError, PipelineError):
                        continue
                    cycle.amounts[cur] = cycle.amounts.get(cur, Decimal(0)) + net
            out.append(cycle)
    out.sort(key=lambda c: (c.closes_at, c.customer_id))
    return out


async def close_cycle_now(settings: Settings, bootstrap: str, customer_id: str, cycle_id: str) -> OpenCycle:
    """Close *customer_id*'s open cycle *cycle_id* now (and any of theirs ending before it): a close command
    for that customer as of the cycle's end, or of now when it has ended. Idempotent, like every close.

    Raises:
        PipelineError: no such open cycle (closed meanwhile, or never there), or the broker did not answer.
    """
    cycle = next((c for c in await open_cycles(settings, bootstrap)
                  if c.customer_id == customer_id and c.cycle_id == cycle_id), None)
    if cycle is None:
        raise PipelineError(f"customer {customer_id} has no open cycle {cycle_id} (closed already?)")
    at = max(cycle.closes_at, datetime.now(timezone.utc))
    await bounded(_send_close(settings, bootstrap, at, customer_id), "close")
    return cycle


async def _send_close(settings: Settings, bootstrap: str, at: datetime, customer_id: str) -> None:
    """The close command ``invoicing cycle close --customer ID --at AT`` sends, keyed by the customer."""
    topics = await ensure_topics(settings, bootstrap)
    producer = new_producer(settings, bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.cycle_orders, close_command(at, customer_id), key=customer_id.encode(),
                                     headers=[("kind", b"close")])
    finally:
        await producer.stop()


# -- numbering audit --------------------------------------------------------------------------------------

async def numbering_audit(settings: Settings, bootstrap: str) -> AuditReport:
    """What ``invoicing audit numbers`` reports: `domain.audit.audit_numbers` over the whole ``invoices`` topic."""
    read = read_invoices(bootstrap, Topics.from_settings(settings).invoices, timeout=110)
    return audit_numbers(await bounded(read, "reading the invoices topic", timeout=120))


# -- health -------------------------------------------------------------------------------------------------

@dataclass
class Health:
    platforms: dict[str, dict[str, Any]]
    targets: dict[str, dict[str, Any]]
    sources: list[tuple[str, str]]  # (metrics URL or topic, "ok" or what went wrong)


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


async def _scrape(client: httpx.AsyncClient, url: str) -> tuple[list[tuple[str, dict[str, str], float]], str]:
    try:
        r = await client.get(url)
        r.raise_for_status()
        return _samples(r.text), "ok"
    except (httpx.HTTPError, ValueError) as exc:
        return [], f"not reachable ({type(exc).__name__})"


async def _latest_raw_events(settings: Settings, bootstrap: str, per_partition: int = 500) -> dict[str, datetime]:
    """The newest event per platform among the last *per_partition* raw events of each partition."""
    topic = Topics.from_settings(settings).raw
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    latest: dict[str, datetime] = {}
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - as infra.kafka_read does
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return latest
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        for tp in tps:
            consumer.seek(tp, max(0, ends[tp] - per_partition))
        deadline = time.monotonic() + 5
        while pending and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=300)).items():
                for m in msgs:
                    try:
                        raw = decode("raw_event", m.value)
                    except CodecError:
                        continue
                    at = _utc(raw["received_at"])
                    if at and (raw["platform"] not in latest or at > latest[raw["platform"]]):
                        latest[raw["platform"]] = at
                if msgs and msgs[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return latest


def _register_health(engine: Engine) -> tuple[dict[str, datetime], dict[str, dict[str, int]]]:
    with engine.connect() as conn:
        last_invoiced = {p: _utc(at) for p, at in conn.execute(
            select(invoice_lineage.c.platform, func.max(invoices.c.issued_at))
            .join(invoices, invoices.c.invoice_id == invoice_lineage.c.invoice_id)
            .group_by(invoice_lineage.c.platform))}
        latest_at = (select(delivery_receipts.c.invoice_id, delivery_receipts.c.target,
                            func.max(delivery_receipts.c.receipt_id).label("rid"))
                     .group_by(delivery_receipts.c.invoice_id, delivery_receipts.c.target).subquery())
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for target, status, n in conn.execute(
                select(delivery_receipts.c.target, delivery_receipts.c.status, func.count())
                .join(latest_at, delivery_receipts.c.receipt_id == latest_at.c.rid)
                .group_by(delivery_receipts.c.target, delivery_receipts.c.status)):
            counts[target][status] += int(n)
    return {p: at for p, at in last_invoiced.items() if at}, {t: dict(c) for t, c in counts.items()}


async def health(settings: Settings, bootstrap: str, engine: Engine, worker_urls: list[str],
                 gateway_urls: list[str]) -> Health:
    """Per platform: last event seen on the raw topic, last invoiced, webhooks accepted and rejected (gateways'
    /metrics), events parked (dead letters). Per target: invoices delivered and parked (the register's latest
    receipt of each), delivery outcomes and circuit state (workers' /metrics)."""
    platforms: dict[str, dict[str, Any]] = defaultdict(lambda: {"last_event": None, "last_invoiced": None,
                                                                "accepted": 0.0, "rejected": 0.0, "parked": 0})
    targets: dict[str, dict[str, Any]] = defaultdict(lambda: {"delivered": 0, "parked": 0, "outcomes": {},
                                                              "circuit_open": None})
    sources: list[tuple[str, str]] = []
    async with httpx.AsyncClient(timeout=3) as client:
        scraped = await asyncio.gather(*(_scrape(client, u) for u in [*gateway_urls, *worker_urls]))
    for url, (samples, status) in zip([*gateway_urls, *worker_urls], scraped):
        sources.append((url, status))
        for name, labels, value in samples:
            if name == "invoicing_webhook_requests_total" and "platform" in labels:
                key = "accepted" if labels.get("status", "").startswith("2") else "rejected"
                platforms[labels["platform"]][key] += value
            elif name == "invoicing_deliveries_total" and "target" in labels:
                outcomes = targets[labels["target"]]["outcomes"]
                outcomes[labels.get("outcome", "?")] = outcomes.get(labels.get("outcome", "?"), 0) + value
            elif name == "invoicing_circuit_open" and "target" in labels:
                t = targets[labels["target"]]
                t["circuit_open"] = bool(value) or bool(t["circuit_open"])
    try:
        last_events = await bounded(_latest_raw_events(settings, bootstrap), "reading the raw events", timeout=10)
        for p, at in last_events.items():
            platforms[p]["last_event"] = at
        for d in await dead_letters(settings, bootstrap):
            if d.platform and not d.replayed:
                platforms[d.platform]["parked"] += 1
        sources.append(("broker " + bootstrap, "ok"))
    except PipelineError as exc:
        sources.append(("broker " + bootstrap, str(exc)))
    last_invoiced, receipt_counts = await asyncio.to_thread(_register_health, engine)
    for p, at in last_invoiced.items():
        platforms[p]["last_invoiced"] = at
    for target, by_status in receipt_counts.items():
        targets[target]["delivered"] = sum(n for s, n in by_status.items() if s in OK_STATUSES)
        targets[target]["parked"] = sum(n for s, n in by_status.items() if s not in OK_STATUSES)
    return Health(dict(sorted(platforms.items())), dict(sorted(targets.items())), sources)
