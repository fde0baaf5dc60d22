"""HTTP helpers shared by platform sources: platform API calls for thin events,
and signing keys/certificates fetched from a platform's key host.

* `request_json` maps every failure to `FetchError`: connection errors, timeouts,
  408/409/425/429 and 5xx are retriable; other 4xx are not (the document is gone
  or the request is wrong), though the pipeline parks those too, never drops them.
* `RemoteKeys` fetches PEM documents (PayPal certificates, Adobe I/O public keys)
  only from HTTPS URLs on allowed hosts, caches them, and never follows redirects.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from invoicing.errors import FetchError, PayloadError, SignatureError

__all__ = ["request_json", "RemoteKeys", "host_allowed"]

_RETRIABLE = frozenset({408, 409, 425, 429})


async def request_json(client: httpx.AsyncClient, platform: str, method: str, url: str, *,
                       headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                       json: Any = None, data: Mapping[str, str] | None = None,
                       auth: httpx.Auth | tuple[str, str] | None = None) -> Any:
    """Call a platform API and return its JSON (floats as Decimal).

    Raises:
        FetchError: transport failure or non-2xx answer (``retriable`` as described above).
    """
    from sources.base import parse_json  # late import: sources.base imports invoicing

    try:
        resp = await client.request(method, url, headers=dict(headers or {}), params=params, json=json,
                                    data=data, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError as exc:
        raise FetchError(f"{platform} API {method} {urlsplit(url).path}: {type(exc).__name__}", retriable=True) from None
    if resp.status_code >= 300:
        retriable = resp.status_code >= 500 or resp.status_code in _RETRIABLE or resp.status_code in (401, 403)
        raise FetchError(f"{platform} API {method} {urlsplit(url).path} answered {resp.status_code}", retriable=retriable)
    try:
        return parse_json(resp.content)
    except PayloadError:
        raise FetchError(f"{platform} API {method} {urlsplit(url).path} did not answer JSON", retriable=True) from None


def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """*url* is HTTPS on an allowed host (``paypal.com`` allows ``api.paypal.com``),
    or plain HTTP on a loopback host that is listed explicitly (tests)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    for entry in (a.strip().lower() for a in allowed):
        if not entry:
            continue
        if host == entry or host.endswith("." + entry):
            if parts.scheme == "https":
                return True
            if parts.scheme == "http" and host in ("127.0.0.1", "localhost", "::1") and host == entry:
                return True
    return False


class RemoteKeys:
    """A small cache of PEM documents fetched from allowed hosts."""

    def __init__(self, ttl: float = 24 * 3600, timeout: float = 5.0, max_bytes: int = 64 * 1024) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, allowed_hosts: Iterable[str]) -> bytes:
        """The PEM at *url*.

        Raises:
            SignatureError: the URL is not on an allowed host, or the key cannot be fetched
                (an unauthenticated request must not be accepted because a key host is down).
        """
        if not host_allowed(url, allowed_hosts):
            raise SignatureError(f"key URL host not allowed: {urlsplit(url).hostname!r}")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(url)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        try:
            resp = httpx.get(url, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise SignatureError(f"cannot fetch signing key: {type(exc).__name__}") from None
        if resp.status_code != 200 or len(resp.content) > self.max_bytes or b"-----BEGIN " not in resp.content:
            raise SignatureError(f"cannot fetch signing key: HTTP {resp.status_code}")
        with self._lock:
            self._cache[url] = (now, resp.content)
        return resp.content
