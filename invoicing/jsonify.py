"""JSON views of Avro records: Decimals as exact strings, dates in ISO 8601."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["to_jsonable", "dumps"]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _dec(value)
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


def _dec(value: Decimal) -> str:
    """Drop Avro's scale padding beyond two places: 10.5000 → 10.50, 1.2345 → 1.2345."""
    text = format(value, "f")
    if "." in text:
        head, tail = text.split(".")
        tail = tail.rstrip("0")
        tail = tail + "0" * (2 - len(tail)) if len(tail) < 2 else tail
        return f"{head}.{tail}"
    return text + ".00"


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, **kwargs)
