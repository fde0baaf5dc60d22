"""Avro encoding of every message the pipeline writes, built on fastavro.

Schemas are parsed once per process. The hot path uses fastavro's schemaless
writer and reader. Messages written with a released older version of a schema
(``schemas/released/``) are read into the current one by Avro schema resolution.
Every value is framed so that a consumer with nothing but fastavro and
``schemas/*.avsc`` can decode it:

* Avro **single-object encoding** (default): ``C3 01`` + the 8-byte
  little-endian CRC-64-AVRO fingerprint of the schema's parsing canonical form
  + the Avro binary body.
* **Confluent framing** when a schema-registry URL is configured: ``00`` +
  4-byte big-endian schema id + body. Ids come from the registry
  (see `RegistryIds`).

Example, as a downstream consumer would write it::

    import fastavro, glob, io, json
    schemas = {}  # current versions, and released ones for messages written before a change
    for path in glob.glob("schemas/*.avsc") + glob.glob("schemas/released/*.avsc"):
        parsed = fastavro.parse_schema(json.load(open(path)))
        fp = fastavro.schema.fingerprint(
            fastavro.schema.to_parsing_canonical_form(parsed), "CRC-64-AVRO")
        schemas[bytes.fromhex(fp)] = parsed
    def decode(value: bytes):
        assert value[:2] == b"\\xc3\\x01"
        return fastavro.schemaless_reader(io.BytesIO(value[10:]), schemas[value[2:10]])
"""
from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from domain.errors import CodecError
from domain.reasons import plain_mismatch
from schemas import released_versions, schema_path

__all__ = [
    "SCHEMA_NAMES",
    "Codec",
    "codec",
    "encode",
    "decode",
    "decode_any",
    "configure_registry_ids",
    "SINGLE_OBJECT_MAGIC",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"

#: short name -> file stem in schemas/
SCHEMA_NAMES = ("raw_event", "order_event", "invoice", "delivery_receipt", "dead_letter")


@dataclass(frozen=True)
class Codec:
    """One schema: its parsed form, fingerprint and framing."""

    name: str
    schema: Any
    fingerprint: bytes
    registry_id: int | None = None
    #: fingerprint -> parsed writer schema, for messages written with a released older version
    older: Mapping[bytes, Any] = field(default_factory=dict, hash=False)

    @property
    def header(self) -> bytes:
        if self.registry_id is not None:
            return CONFLUENT_MAGIC + struct.pack(">I", self.registry_id)
        return SINGLE_OBJECT_MAGIC + self.fingerprint

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Encode *record* with this schema and its frame header.

        Raises:
            CodecError: the record does not match the schema.
        """
        buf = io.BytesIO()
        buf.write(self.header)
        try:
            fastavro.schemaless_writer(buf, self.schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"cannot encode {self.name}: {plain_mismatch(exc)}") from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode *data* written with this schema (either framing).

        Raises:
            CodecError: wrong frame, wrong schema or a truncated body.
        """
        writer = None
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if data[2:10] != self.fingerprint:
                writer = self.older.get(data[2:10])
                if writer is None:
                    raise CodecError(f"message is not a {self.name} (fingerprint {data[2:10].hex()})")
            offset = 10
        elif data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            offset = 5
        else:
            raise CodecError(f"{self.name}: unknown framing {data[:2]!r}")
        try:
            if writer is not None:  # written with an older version: Avro schema resolution to this one
                return cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(data[offset:]), writer, self.schema))
            return cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(data[offset:]), self.schema, None))
        except (EOFError, ValueError, IndexError, StopIteration, UnicodeDecodeError) as exc:
            raise CodecError(f"cannot decode {self.name}: {exc}") from exc


def load_schema(name: str) -> Any:
    """Parse ``schemas/<name>.avsc``."""
    return _parse_file(schema_path(name))


def _parse_file(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return fastavro.parse_schema(json.load(fh))


def schema_fingerprint(parsed: Any) -> bytes:
    """CRC-64-AVRO fingerprint, little-endian bytes, as single-object encoding wants."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


_REGISTRY_IDS: dict[str, int] = {}


def configure_registry_ids(ids: dict[str, int]) -> None:
    """Frame messages the Confluent way with these schema ids (see `infra.schema_registry`)."""
    _REGISTRY_IDS.clear()
    _REGISTRY_IDS.update(ids)
    codec.cache_clear()
    _by_fingerprint.cache_clear()


@lru_cache(maxsize=None)
def codec(name: str) -> Codec:
    """The codec for schema *name*, parsed once per process."""
    if name not in SCHEMA_NAMES:
        raise CodecError(f"unknown schema {name!r}")
    parsed = load_schema(name)
    current = schema_fingerprint(parsed)
    older = {schema_fingerprint(old): old for old in map(_parse_file, released_versions(name))}
    older.pop(current, None)
    return Codec(name=name, schema=parsed, fingerprint=current, registry_id=_REGISTRY_IDS.get(name), older=older)


def encode(name: str, record: Mapping[str, Any]) -> bytes:
    return codec(name).encode(record)


def decode(name: str, data: bytes) -> dict[str, Any]:
    return codec(name).decode(data)


@lru_cache(maxsize=1)
def _by_fingerprint() -> dict[bytes, Codec]:
    found = {fp: codec(n) for n in SCHEMA_NAMES for fp in codec(n).older}
    found.update({codec(n).fingerprint: codec(n) for n in SCHEMA_NAMES})
    return found


def decode_any(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a single-object-encoded message of any pipeline schema.

    Returns:
        (schema name, record)
    """
    c = _by_fingerprint().get(data[2:10]) if data[:2] == SINGLE_OBJECT_MAGIC else None
    if c is None:
        raise CodecError("not a single-object encoded pipeline message")
    return c.name, c.decode(data)
