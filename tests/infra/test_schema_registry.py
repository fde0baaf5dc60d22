"""Confluent framing with ids from a schema registry (a stand-in registry on loopback)."""
from __future__ import annotations

import io
import json
from typing import Any, Iterator

import fastavro
import httpx
import pytest

from domain.codec import codec, configure_registry_ids, decode, encode
from domain.errors import ConfigError
from infra.schema_registry import register_schemas
from domain.settings import Settings
from domain.topics import Topics
from tests.fakes.target_base import FakeTarget, Reply, Req
from tests.support import sample_invoice


class FakeRegistry(FakeTarget):
    """The subset of the Confluent Schema Registry REST API the pipeline uses."""

    target = "registry"

    def __init__(self) -> None:
        self.schemas: dict[str, int] = {}
        self.subjects: dict[str, list[int]] = {}
        super().__init__()

    def handle(self, req: Req) -> Reply:
        parts = req.path.strip("/").split("/")
        if req.method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            body = req.json()
            fastavro.parse_schema(json.loads(body["schema"]))  # the registry rejects invalid Avro
            schema_id = self.schemas.setdefault(body["schema"], len(self.schemas) + 1)
            self.subjects.setdefault(parts[1], []).append(schema_id)
            return Reply(200, {"id": schema_id})
        if req.method == "GET" and parts[:2] == ["schemas", "ids"]:
            for text, sid in self.schemas.items():
                if sid == int(parts[2]):
                    return Reply(200, {"schema": text})
            return Reply(404, {"error_code": 40403, "message": "Schema not found"})
        return Reply(404, {"error_code": 404, "message": "not found"})


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    try:
        yield fake
    finally:
        fake.close()
        configure_registry_ids({})


async def test_confluent_framing_readable_with_the_registry_alone(registry: FakeRegistry) -> None:
    topics = Topics.from_settings(Settings(topic_prefix="reg."))
    ids = await register_schemas(registry.url, topics)
    assert set(registry.subjects) >= {"reg.invoices-value", "reg.invoicing.raw-events-value"}
    inv = sample_invoice(5)
    data = encode("invoice", inv)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == ids["invoice"] == codec("invoice").registry_id
    assert decode("invoice", data) == inv
    # a Confluent consumer: fetch the writer schema by id, decode with fastavro only
    schema_text = httpx.get(f"{registry.url}/schemas/ids/{int.from_bytes(data[1:5], 'big')}").json()["schema"]
    record: Any = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(json.loads(schema_text)), None)
    assert record["number"] == inv["number"] and record["total"] == inv["total"]


async def test_single_object_messages_still_decode_after_the_switch(registry: FakeRegistry) -> None:
    inv = sample_invoice(6)
    before = encode("invoice", inv)
    assert before[:2] == b"\xc3\x01"
    await register_schemas(registry.url, Topics.from_settings(Settings()))
    assert decode("invoice", before) == inv


async def test_a_refused_schema_stops_start_up(registry: FakeRegistry) -> None:
    registry.fail(409, times=1, body={"error_code": 409, "message": "Schema being registered is incompatible"})
    with pytest.raises(ConfigError, match="incompatible"):
        await register_schemas(registry.url, Topics.from_settings(Settings()))
