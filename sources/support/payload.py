"""Reading payloads safely: JSON with a depth limit, schema-checked documents, one typed event per
request, platform time stamps."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Mapping

from domain.errors import PayloadError
from domain.reasons import plain_reason
from sources.base import ThinEvent
from sources.canonical import OrderEvent

__all__ = ["MAX_JSON_DEPTH", "parse_json", "schema_document", "one_typed_event", "ms_to_datetime", "parse_time"]

#: the deepest nesting of arrays and objects a JSON body may have (platforms' events stay under 15 levels);
#: deeper bodies are refused before parsing, so no reader ever recurses that deep
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DECODER = json.JSONDecoder(parse_float=Decimal)  # json.loads with an option builds a decoder per call


def _nesting_within(body: bytes, limit: int) -> bool:
    """True when the arrays and objects of JSON *body* nest at most *limit* deep (strings ignored)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return True
    skeleton = _JSON_STRING.sub(b"", body).translate(_OPEN_CLOSE, _NOT_BRACKETS)
    for _ in range(limit):  # each pass takes the innermost level away
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton = shorter
    return b"[]" not in skeleton and skeleton.count(b"[") <= limit


def parse_json(body: bytes) -> Any:
    """Parse JSON, keeping numbers exact (floats become Decimal). A body nested deeper than
    `MAX_JSON_DEPTH` is refused before it is parsed.

    Raises:
        PayloadError: not JSON, or nested too deep.
    """
    if not _nesting_within(body, MAX_JSON_DEPTH):
        raise PayloadError(f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))  # what json.loads does
    except RecursionError:
        raise PayloadError(f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise PayloadError("body is not JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON: {exc.msg.lower()} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:  # an integer with more digits than Python converts (4,300)
        raise PayloadError("body has a number with too many digits to be read") from None


def schema_document(body: bytes, schema: str, *, id_field: str = "eventId", **shapes: type) -> dict[str, Any]:
    """*body* as one of the JSON documents our own scripts send (``"schema": schema``), with a
    non-empty *id_field* and each field named in *shapes* of the given type (``OrderDtl=list``).

    Raises:
        PayloadError: not JSON, or not such a document.
    """
    doc = parse_json(body)
    if not isinstance(doc, dict) or doc.get("schema") != schema or not doc.get(id_field) \
            or not all(isinstance(doc.get(name), kind) for name, kind in shapes.items()):
        raise PayloadError(f"body is not an {schema} document")
    return doc


def one_typed_event(raw: Mapping[str, Any], triggers: Mapping[str, str],
                    build: Callable[[Mapping[str, Any], dict[str, Any], str], OrderEvent], *,
                    not_an_event: str, lacking: str) -> list[OrderEvent | ThinEvent]:
    """The one order event of a JSON event body whose ``type`` is a key of *triggers*; ``[]`` for other types.

    *build(raw, doc, trigger)* makes the event; a field it misses becomes a `PayloadError`
    ``"<lacking> lacks <field>"``, a body that is no JSON object one saying *not_an_event*.
    """
    doc = parse_json(raw["body"])
    if not isinstance(doc, dict):
        raise PayloadError(not_an_event)
    trigger = triggers.get(str(doc.get("type")))
    if trigger is None:
        return []
    try:
        return [build(raw, doc, trigger)]
    except (KeyError, TypeError, AttributeError) as exc:
        raise PayloadError(plain_reason(exc, what=f"the {lacking}")) from None


def ms_to_datetime(ms: int | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


def parse_time(value: Any, default: datetime | None = None) -> datetime:
    """ISO 8601 (with Z or offset), or epoch seconds. Naive times are UTC."""
    if value in (None, ""):
        if default is None:
            raise PayloadError("missing timestamp")
        return default
    if isinstance(value, (int, Decimal)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"bad timestamp {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


