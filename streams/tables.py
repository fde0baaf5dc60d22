"""Faust tables (memory store in tests, RocksDB via rocksdict in production). Keys and values are bytes.

* ``orders``: order key → JSON order state (status, invoice id and series, platform
  event keys seen, paid, cancelled): both levels of deduplication.
* ``issued``: invoice id → ``<sequence>|<series>|<Avro invoice>``; the order→number mapping.
* ``deliveries``: ``<invoice id>|<target>`` → receipt status.
* ``cycles``: ``<customer>|<cycle id>`` → JSON cycle state (status, end, order keys).
* ``cycle_orders``: ``<customer>|<cycle id>|<order key>`` → the order event (Avro).
* ``cycle_index``: customer → JSON (open cycles, closed cycles) to place late orders.
* ``cycle_members``: ``<customer>|<order key>`` → the cycle id the order was placed in, so an
  order seen again (a redelivery after a crash) is never placed in a second cycle.

Every mutated value is written back (``table[key] = value``) so the changelog has it.
"""
from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TableT

__all__ = ["Tables", "declare_tables"]


@dataclass(frozen=True)
class Tables:
    orders: TableT
    issued: TableT
    deliveries: TableT
    cycles: TableT
    cycle_orders: TableT
    cycle_index: TableT
    cycle_members: TableT


def declare_tables(app: faust.App) -> Tables:
    raw = faust.Schema(key_serializer="raw", value_serializer="raw")

    def table(name: str) -> TableT:
        return app.Table(name, default=None, schema=raw, key_type=bytes, value_type=bytes, help=f"invoicing {name}")

    return Tables(
        orders=table("orders"),
        issued=table("issued"),
        deliveries=table("deliveries"),
        cycles=table("cycles"),
        cycle_orders=table("cycle-orders"),
        cycle_index=table("cycle-index"),
        cycle_members=table("cycle-members"),
    )
