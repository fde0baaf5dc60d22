"""The Avro contract: standalone decoding and backward compatibility with released schemas."""
from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import fastavro

from domain.codec import SCHEMA_NAMES, SINGLE_OBJECT_MAGIC, codec, decode, decode_any, encode, schema_fingerprint
from domain.schema_compat import check_all, incompatibilities, released_versions
from schemas import RELEASED_DIR, SCHEMA_DIR, schema_path
from tests.support import sample_invoice

STANDALONE_DECODER = r'''
import glob, io, json, sys
import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
schemas = {}
for path in glob.glob(sys.argv[1] + "/*.avsc"):
    parsed = fastavro.parse_schema(json.load(open(path)))
    schemas[bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))] = parsed
for line in sys.stdin:
    value = bytes.fromhex(line.strip())
    assert value[:2] == b"\xc3\x01", "single-object encoding marker"
    record = fastavro.schemaless_reader(io.BytesIO(value[10:]), schemas[value[2:10]], None)
    print(json.dumps({"number": record["number"], "total": str(record["total"]), "lines": len(record["lines"])}))
'''


def test_standalone_consumer_decodes_with_fastavro_and_avsc_only() -> None:
    """A consumer with nothing but fastavro and schemas/*.avsc (no import of this project) decodes an invoice."""
    inv = sample_invoice(4)
    value = encode("invoice", inv)
    out = subprocess.run([sys.executable, "-I", "-c", STANDALONE_DECODER, str(SCHEMA_DIR)], input=value.hex() + "\n",
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got == {"number": inv["number"], "total": str(inv["total"]), "lines": len(inv["lines"])}


def test_roundtrip_and_framing() -> None:
    inv = sample_invoice(2)
    data = encode("invoice", inv)
    assert data[:2] == b"\xc3\x01" and data[2:10] == codec("invoice").fingerprint
    assert decode("invoice", data) == inv
    assert decode_any(data) == ("invoice", inv)


def test_messages_written_with_a_released_version_are_read_with_the_current_one() -> None:
    """A dead letter parked before `kind` existed (written with dead_letter.v1) still reads, and replays."""
    v1 = fastavro.parse_schema(json.loads((RELEASED_DIR / "dead_letter.v1.avsc").read_text()))
    assert schema_fingerprint(v1) != codec("dead_letter").fingerprint, "the current schema has moved on from v1"
    old = {"stage": "bill", "reason": "r", "error_type": "E", "failed_at": datetime(2026, 11, 1, tzinfo=timezone.utc),
           "topic": "t", "partition": 0, "offset": 7, "key": b"k", "value": b"v", "platform": None, "target": None,
           "attempts": 1, "retriable": False}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v1, old)
    data = SINGLE_OBJECT_MAGIC + schema_fingerprint(v1) + buf.getvalue()
    assert decode("dead_letter", data) == {**old, "kind": None}
    assert decode_any(data) == ("dead_letter", {**old, "kind": None})


def test_every_schema_has_a_released_version() -> None:
    for name in SCHEMA_NAMES:
        assert released_versions(name), f"schemas/released/{name}.v1.avsc missing"


def test_current_schemas_read_every_released_version() -> None:
    assert check_all() == {}


def test_incompatible_change_is_detected() -> None:
    """The check is not vacuous: a new required field and a changed type both fail."""
    old = json.loads(schema_path("delivery_receipt").read_text())
    added = copy.deepcopy(old)
    added["fields"].append({"name": "tenant", "type": "string"})
    assert incompatibilities(old, added)
    retyped = copy.deepcopy(old)
    next(f for f in retyped["fields"] if f["name"] == "attempts")["type"] = "string"
    assert incompatibilities(old, retyped)
    compatible = copy.deepcopy(old)
    compatible["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    assert incompatibilities(old, compatible) == []


def test_released_files_are_valid_json() -> None:
    for path in Path(SCHEMA_DIR, "released").glob("*.avsc"):
        json.loads(path.read_text())
