"""The raw-event record: what the gateway and the pollers publish for one inbound request, with
nothing secret in it (credentials in headers and query strings never reach a topic)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sources.base import EventInfo, InboundRequest, Source

__all__ = ["raw_event_record", "redact_url"]

#: headers never copied onto a topic, whatever a source asks for
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "x-invoicing-token",
                             "x-trusted-context"})
#: query parameters that carry shared-secret tokens; their values never reach a topic
_SECRET_PARAMS = frozenset({"token", "code", "key", "secret", "api_key", "apikey", "access_token", "sig"})

def redact_url(url: str) -> str:
    """The URL with the values of secret query parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))



def raw_event_record(platform: str, info: EventInfo, inbound: InboundRequest, source: Source) -> dict[str, Any]:
    wanted = set(source.keep_headers) | set(h.lower() for h in info.keep_headers) | {"content-type"}
    headers = {k: v for k, v in inbound.headers.items() if k in wanted and k not in _SECRET_HEADERS}
    return {
        "platform": platform,
        "event_type": info.event_type,
        "event_id": info.event_id,
        "received_at": datetime.now(timezone.utc),
        "method": inbound.method,
        "url": redact_url(inbound.url),
        "content_type": inbound.headers.get("content-type", ""),
        "headers": headers,
        "body": inbound.body,
        "attempt": 0,
    }
