"""Reasons a finance clerk can act on, for failures nobody anticipated in words.

Our own errors (`domain.errors.PipelineError`) already say what failed in plain words.
Anything else that escapes a platform's reader (a missing key, text where an object was
expected, a number that is not one) is turned into a sentence that names the field, as far as
the failing line of our code shows it, and the kind of value found, never a Python class name.
"""
from __future__ import annotations

import linecache
import re
import traceback
from decimal import InvalidOperation
from pathlib import Path

from domain.errors import PipelineError

__all__ = ["plain_reason", "plain_mismatch"]

_ROOT = str(Path(__file__).resolve().parent.parent)
_TESTS = str(Path(_ROOT) / "tests")
_KINDS = {"str": "text", "int": "a whole number", "float": "a number", "Decimal": "a number", "list": "a list",
          "dict": "an object", "NoneType": "nothing (null)", "bool": "true/false", "bytes": "binary data",
          "tuple": "a list"}


def _kind(type_name: str) -> str:
    return _KINDS.get(type_name, "a value of another kind")


_AVRO_KINDS = {"string": "text", "long": "a whole number", "int": "a whole number", "double": "a number",
               "float": "a number", "boolean": "true/false", "bytes": "an amount", "null": "nothing",
               "array": "a list", "record": "an object", "map": "an object"}


def plain_mismatch(exc: BaseException) -> str:
    """A record that does not fit its Avro schema (fastavro's ``-1 (type <class 'int'>) do not match
    ['null', 'string'] on field sku``), in words: which field, which value, what was expected."""
    text = str(exc)
    m = re.match(r"(?s)(.*) \(type <class '([\w.]+)'>\) do not match (.*?)(?: on field (\w+))?$", text)
    if m:
        value, found, expected, field = m.groups()
        wanted = [_AVRO_KINDS[t] for t in re.findall(r"'(\w+)'", expected) if t in _AVRO_KINDS and t != "null"] \
            or ["another kind of value"]
        where = f"the field {field}" if field else "a field"
        return f"{where} holds {_kind(found.rsplit('.', 1)[-1])} ({value[:60]}) where {' or '.join(dict.fromkeys(wanted))} was expected"
    missing = re.match(r"no value and no default for (\w+)", text)
    if isinstance(exc, KeyError) or missing:
        return f"the field {missing.group(1) if missing else text} is missing"
    text = re.sub(r"<class '([\w.]+)'>", lambda k: _kind(k.group(1).rsplit(".", 1)[-1]), text)
    return re.sub(r"\b[A-Z]\w*(?:Error|Exception)\b:?\s*", "", text).strip() or "a value of the wrong kind"


def _where(exc: BaseException) -> str:
    """The innermost line of our code that failed, as ``reading `…```, or ``""``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(_ROOT) and "site-packages" not in f.filename
              and not f.filename.startswith(_TESTS)]
    if not frames:
        return ""
    frame = frames[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    line = re.sub(r"\s+", " ", line)
    return f" (while reading `{line[:100]}`)" if line else ""


def plain_reason(exc: BaseException, *, what: str) -> str:
    """*exc*, raised while processing *what* (e.g. ``"the shopify event 123"``), in plain words."""
    if isinstance(exc, PipelineError):
        return str(exc)
    where = _where(exc)
    text = str(exc)
    if isinstance(exc, KeyError):
        return f"{what} lacks the field {text}{where}: check what the platform sends, then replay"
    if isinstance(exc, (InvalidOperation, ArithmeticError)):
        return f"{what} has a number that cannot be used (too large, or not a number){where}: check its amounts"
    m = re.match(r"'(\w+)' object (?:has no attribute|is not subscriptable|is not iterable)", text)
    if isinstance(exc, (AttributeError, TypeError)) and m:
        found = getattr(exc, "obj", None)  # AttributeError carries the value it was raised on
        shown = f" ({str(found)[:40]!r})" if isinstance(found, (str, int, float)) else ""
        return f"{what} has {_kind(m.group(1))}{shown} where an object or list was expected{where}: check what the " \
               "platform sends, then replay"
    m = re.search(r"must be .+?, not '?(\w+)'?|unhashable type: '(\w+)'|argument of type '(\w+)'", text)
    if isinstance(exc, TypeError) and m:
        found = next(g for g in m.groups() if g)
        return f"{what} has {_kind(found)} where another kind of value was expected{where}: check what the " \
               "platform sends, then replay"
    m = re.match(r"invalid literal for int\(\) with base \d+: (.*)|could not convert string to float: (.*)", text)
    if isinstance(exc, ValueError) and m:
        value, number = (m.group(1), "a whole number") if m.group(1) is not None else (m.group(2), "a number")
        return f"{what} has {value[:60]} where {number} was expected{where}: check what the platform sends, then replay"
    if isinstance(exc, (ValueError, TypeError, AttributeError, IndexError, UnicodeError)):
        detail = re.sub(r"<class '[\w.]+'>|\b[A-Z]\w*(?:Error|Exception)\b", "", text).strip(" :[]")[:160]
        return f"{what} could not be read{where}{': ' + detail if detail else ''}; check what the platform sends, then replay"
    return f"{what} could not be processed because of an unexpected fault{where}; report it, then replay"
