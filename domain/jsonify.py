"""JSON views of Avro records: Decimals as exact strings (`domain.exact.decimal_text`), dates in ISO 8601."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.exact import decimal_text
from schemas import schema_path

__all__ = ["to_jsonable", "dumps", "from_jsonable"]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, **kwargs)


def from_jsonable(schema: str, doc: Any) -> Any:
    """*doc* (a `to_jsonable` view of a record of Avro *schema*, e.g. ``"invoice"``) as the record again:
    decimals, dates and timestamps typed as the schema says."""
    return _typed(json.loads(schema_path(schema).read_text()), doc, {})


def _typed(t: Any, v: Any, named: dict[str, Any]) -> Any:
    if v is None:
        return None
    if isinstance(t, list):  # a union: the first branch the value fits
        for branch in t:
            if branch != "null":
                return _typed(branch, v, named)
        return v
    if isinstance(t, str):
        return _typed(named[t], v, named) if t in named else v
    kind, logical = t.get("type"), t.get("logicalType")
    if logical == "decimal":
        return Decimal(str(v))
    if logical == "date":
        return date.fromisoformat(v)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return datetime.fromisoformat(v)
    if kind == "record":
        named[t["name"]] = t
        return {f["name"]: _typed(f["type"], v.get(f["name"]), named) for f in t["fields"]}
    if kind == "array":
        return [_typed(t["items"], x, named) for x in v]
    if kind == "map":
        return {k: _typed(t["values"], x, named) for k, x in v.items()}
    if kind == "enum":
        named[t["name"]] = t
        return v
    if isinstance(kind, (dict, list)):
        return _typed(kind, v, named)
    return v
