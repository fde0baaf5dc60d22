"""Faust tables (memory store in tests, RocksDB via rocksdict in production). Keys and values are bytes.

* ``orders``: order key → JSON order state (status, invoice id and series, platform
  event keys seen, paid, cancelled): both levels of deduplication.
* ``issued``: invoice id → ``<sequence>|<series>|<Avro invoice>``; the order→number mapping.
* ``deliveries``: ``<invoice id>|<target>`` → receipt status.
* ``cycles``: customer → JSON of all the customer's billing cycles (status, end, order keys,
  invoices): one value, so one changelog message per change keeps them consistent.
* ``cycle_orders``: ``<customer>|<cycle id>|<order key>`` → the order event (Avro), until the close.

Every mutated value is written back (``table[key] = value``) so the changelog has it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT

__all__ = ["Tables", "declare_tables"]


@dataclass(frozen=True)
class Tables:
    orders: TableT[bytes, bytes]
    issued: TableT[bytes, bytes]
    deliveries: TableT[bytes, bytes]
    cycles: TableT[bytes, bytes]
    cycle_orders: TableT[bytes, bytes]


def declare_tables(app: faust.App) -> Tables:
    raw: Any = faust.Schema(key_serializer="raw", value_serializer="raw")

    def table(name: str) -> TableT[bytes, bytes]:
        return app.Table(name, default=None, schema=raw, key_type=bytes, value_type=bytes, help=f"invoicing {name}")

    return Tables(
        orders=table("orders"),
        issued=table("issued"),
        deliveries=table("deliveries"),
        cycles=table("cycles"),
        cycle_orders=table("cycle-orders"),
    )
