"""Confluent Schema Registry: register our schemas and switch the codec to Confluent framing.

With ``INVOICING_SCHEMA_REGISTRY_URL`` set, every process registers each topic's value
schema under the subject ``<topic>-value`` (TopicNameStrategy) at start-up and frames
messages as ``00`` + 4-byte schema id + Avro body, which Confluent's deserializers
read. Decoding accepts both framings, so a topic can switch without a gap.
"""
from __future__ import annotations

import json

import httpx

from domain.codec import configure_registry_ids
from domain.errors import ConfigError
from domain.topics import Topics
from infra.http import why_unreachable

__all__ = ["SUBJECT_SCHEMAS", "register_schemas"]

#: topic field → schema name
SUBJECT_SCHEMAS = {
    "raw": "raw_event", "orders": "order_event", "issue": "invoice", "invoices": "invoice",
    "redeliver": "invoice", "receipts": "delivery_receipt", "dead_letters": "dead_letter",
}


async def register_schemas(url: str, topics: Topics, client: httpx.AsyncClient | None = None) -> dict[str, int]:
    """Register every value schema; returns schema name → id and configures the codec.

    Raises:
        ConfigError: the registry refused a schema (e.g. an incompatible change) or is unreachable.
    """
    from schemas import schema_path

    own = client is None
    http = client or httpx.AsyncClient(timeout=10)
    ids: dict[str, int] = {}
    try:
        for field, name in SUBJECT_SCHEMAS.items():
            subject = f"{getattr(topics, field)}-value"
            body = {"schemaType": "AVRO", "schema": json.dumps(json.loads(schema_path(name).read_text()))}
            try:
                r = await http.post(f"{url.rstrip('/')}/subjects/{subject}/versions", json=body,
                                    headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
            except httpx.HTTPError as exc:
                raise ConfigError(f"schema registry {url} unreachable: {why_unreachable(exc)}") from None
            if r.status_code >= 400:
                raise ConfigError(f"schema registry refused {subject}: HTTP {r.status_code}: {r.text[:300]}")
            schema_id = int(r.json()["id"])
            if ids.setdefault(name, schema_id) != schema_id:
                raise ConfigError(f"schema {name} has two registry ids ({ids[name]}, {schema_id})")
    finally:
        if own:
            await http.aclose()
    configure_registry_ids(ids)
    return ids
