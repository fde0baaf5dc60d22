"""JSON with exact numbers: Decimals written as JSON number literals, never through float.

Platforms such as Xero, QuickBooks and Zoho send amounts as JSON numbers
(``"Total": 1249.90``); the sample generators reproduce that byte for byte.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

__all__ = ["dumps_exact"]

_MARK = "\u0000dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value:f}"
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark(v) for v in value]
    return value


def dumps_exact(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` where every `Decimal` becomes a number literal with its exact digits."""
    return _MARKED.sub(r"\1", json.dumps(_mark(value), **kwargs))
