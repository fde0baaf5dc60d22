"""Reasons a finance clerk can act on, for failures nobody anticipated in words.

Our own errors (`invoicing.errors.PipelineError`) already say what failed in plain words.
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

from invoicing.errors import PipelineError

__all__ = ["plain_reason"]

_ROOT = str(Path(__file__).resolve().parent.parent)
_KINDS = {"str": "text", "int": "a whole number", "float": "a number", "Decimal": "a number", "list": "a list",
          "dict": "an object", "NoneType": "nothing (null)", "bool": "true/false", "bytes": "binary data",
          "tuple": "a list"}


def _kind(type_name: str) -> str:
    return _KINDS.get(type_name, "a value of another kind")


def _where(exc: BaseException) -> str:
    """The innermost line of our code that failed, as ``reading `…```, or ``""``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(_ROOT) and "site-packages" not in f.filename]
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
        return f"{what} has {_kind(m.group(1))} where an object or list was expected{where}: check what the " \
               "platform sends, then replay"
    m = re.search(r"must be (?:a |an )?[\w ]+, not '?(\w+)'?", text)
    if isinstance(exc, TypeError) and m:
        return f"{what} has {_kind(m.group(1))} where another kind of value was expected{where}: check what the " \
               "platform sends, then replay"
    if isinstance(exc, (ValueError, TypeError, AttributeError, IndexError, UnicodeError)):
        detail = re.sub(r"<class '[\w.]+'>|\b[A-Z]\w*(?:Error|Exception)\b", "", text).strip(" :[]")[:160]
        return f"{what} could not be read{where}{': ' + detail if detail else ''}; check what the platform sends, then replay"
    return f"{what} could not be processed because of an unexpected fault{where}; report it, then replay"
