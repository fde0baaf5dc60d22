"""Backward-compatibility check of the Avro schemas against their released versions.

A schema change is backward compatible when a reader with the new schema can
read every message written with an old one (Avro schema resolution). Released
versions live in ``schemas/released/<name>.v<N>.avsc``; release a new version by
copying the current file there once it ships.
"""
from __future__ import annotations

import io
import json
from typing import Any

import fastavro
from fastavro.utils import generate_many

from schemas import released_versions, schema_path

__all__ = ["released_versions", "incompatibilities", "check_all"]


def _parse(doc: Any) -> Any:
    return fastavro.parse_schema(doc)


def incompatibilities(writer_doc: Any, reader_doc: Any, samples: int = 50) -> list[str]:
    """Problems reading *writer_doc* data with *reader_doc* (empty: compatible)."""
    writer = _parse(writer_doc)
    reader = _parse(reader_doc)
    problems: list[str] = []
    for i, record in enumerate(generate_many(writer, samples)):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, record)
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, writer, reader)
        except Exception as exc:  # noqa: BLE001 - every resolution error is a finding
            problems.append(f"record {i}: {type(exc).__name__}: {exc}")
            break
    return problems


def check_all() -> dict[str, list[str]]:
    """Every current schema against every released version of it."""
    from domain.codec import SCHEMA_NAMES

    out: dict[str, list[str]] = {}
    for name in SCHEMA_NAMES:
        current = json.loads(schema_path(name).read_text())
        for old in released_versions(name):
            problems = incompatibilities(json.loads(old.read_text()), current)
            if problems:
                out[f"{name} vs {old.name}"] = problems
    return out
