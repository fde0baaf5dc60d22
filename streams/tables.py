"""Faust tables (memory store in tests, RocksDB via rocksdict in production). Keys and values are bytes.

* ``seen_events``: event key (platform:event id) → first-seen time (ms); event-level dedup.
* ``orders``: order key → JSON order state (status, invoice id, events seen, paid).
* ``issued``: invoice id → ``<sequence>|<series>|<Avro invoice>``; the order→number mapping.
* ``deliveries``: ``<invoice id>|<target>`` → receipt status.

Every mutated value is written back (``table[key] = value``) so the changelog has it.
"""
from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TableT

__all__ = ["Tables", "declare_tables"]


@dataclass(frozen=True)
class Tables:
    seen_events: TableT
    orders: TableT
    issued: TableT
    deliveries: TableT


def declare_tables(app: faust.App) -> Tables:
    raw = faust.Schema(key_serializer="raw", value_serializer="raw")

    def table(name: str) -> TableT:
        return app.Table(name, default=None, schema=raw, key_type=bytes, value_type=bytes, help=f"invoicing {name}")

    return Tables(
        seen_events=table("seen-events"),
        orders=table("orders"),
        issued=table("issued"),
        deliveries=table("deliveries"),
    )
