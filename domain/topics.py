"""Topic names. Every name goes through `Settings.topic` so a prefix isolates tenants and tests."""
from __future__ import annotations

from dataclasses import dataclass

from domain.settings import Settings

__all__ = ["Topics", "TOPIC_BASE_NAMES"]

TOPIC_BASE_NAMES = {
    "raw": "invoicing.raw-events",
    "orders": "invoicing.orders",
    "issue": "invoicing.issue-requests",
    "invoices": "invoices",
    "receipts": "invoicing.delivery-receipts",
    "dead_letters": "invoicing.dead-letters",
    "customers": "invoicing.ref.customers",
    "products": "invoicing.ref.products",
    "sellers": "invoicing.ref.sellers",
    "redeliver": "invoicing.redeliver",
    "cycle_orders": "invoicing.cycle-orders",
    "dlq_replayed": "invoicing.dead-letters.replayed",
    "poll_cursors": "invoicing.poll-cursors",
}

COMPACTED = frozenset({"customers", "products", "sellers", "dlq_replayed", "poll_cursors"})


@dataclass(frozen=True)
class Topics:
    raw: str
    orders: str
    issue: str
    invoices: str
    receipts: str
    dead_letters: str
    customers: str
    products: str
    sellers: str
    redeliver: str
    cycle_orders: str
    dlq_replayed: str
    poll_cursors: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "Topics":
        return cls(**{k: settings.topic(v) for k, v in TOPIC_BASE_NAMES.items()})

    def all(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in TOPIC_BASE_NAMES}

    def is_compacted(self, field: str) -> bool:
        return field in COMPACTED
