"""Inbound authentication helpers for platforms that do not sign like Stripe does.

* `require_token`: a shared secret sent as a header, ``Authorization: Bearer``,
  HTTP Basic password or ``?token=`` query value (gateway redacts it from the stored
  URL), compared in constant time;
* `sign_timestamped` / `verify_timestamped`: our own HMAC-SHA256 over
  ``<unix seconds>.<raw body>`` for callouts we write ourselves (NetSuite SuiteScript,
  Epicor BPM/Functions), with a timestamp tolerance against replays.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Iterable

from domain.errors import SignatureError

__all__ = ["TOKEN_HEADER", "presented_tokens", "require_token", "sign_timestamped", "verify_timestamped"]

#: the header our own callouts and configurable platforms use for a shared token
TOKEN_HEADER = "x-invoicing-token"


def presented_tokens(headers: dict[str, str] | object, query: dict[str, str], *, header: str = TOKEN_HEADER,
                     query_names: Iterable[str] = (), bearer: bool = False, basic: bool = False) -> list[str]:
    """Every token the request presents in the places a platform may put it."""
    h = headers if isinstance(headers, dict) else dict(headers)  # type: ignore[call-overload]
    found = [h.get(header, "")]
    auth = h.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if bearer and scheme.lower() == "bearer":
        found.append(value.strip())
    if basic and scheme.lower() == "basic":
        try:
            found.append(base64.b64decode(value.strip(), validate=True).decode().partition(":")[2])
        except (ValueError, UnicodeDecodeError):
            pass
    found.extend(query.get(name, "") for name in query_names)
    return [t for t in found if t]


def require_token(expected: bytes, presented: list[str], platform: str) -> None:
    """Accept when one presented token equals *expected* (constant time, every candidate checked).

    Raises:
        SignatureError: no token, or none matches.
    """
    if not presented:
        raise SignatureError(f"{platform}: no shared token presented")
    ok = False
    for token in presented:
        ok |= hmac.compare_digest(token.encode(), expected)
    if not ok:
        raise SignatureError(f"{platform}: shared token does not match")


def sign_timestamped(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_timestamped(secret: bytes, body: bytes, timestamp: str, signature: str, tolerance: int,
                       platform: str, now: float | None = None) -> None:
    """Check a `sign_timestamped` signature and that *timestamp* is within *tolerance* seconds.

    Raises:
        SignatureError: missing, stale or not matching.
    """
    if not timestamp or not signature:
        raise SignatureError(f"{platform}: missing signature or timestamp header")
    if not timestamp.isdigit():
        raise SignatureError(f"{platform}: bad timestamp")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise SignatureError(f"{platform}: timestamp outside the {tolerance} s tolerance")
    if not hmac.compare_digest(sign_timestamped(secret, timestamp, body).encode(), signature.strip().encode()):
        raise SignatureError(f"{platform}: signature does not match the body")
