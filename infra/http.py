"""HTTP helpers shared by the OAuth client and the sinks."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["retry_after_seconds", "why_unreachable"]


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def why_unreachable(exc: httpx.HTTPError) -> str:
    """A transport failure told in words a finance clerk or an SRE can act on (no exception class names,
    no URL query strings, which may carry credentials)."""
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "the connection was refused or the host is unknown"
    if isinstance(exc, httpx.TooManyRedirects):
        return "it redirected too many times"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "the connection broke off mid-answer"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy refused the connection"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "its address does not start with http:// or https://"
    if isinstance(exc, httpx.DecodingError):
        return "its answer could not be decoded"
    return "the request failed on the network"
