"""Signing keys and certificates fetched from a platform's key host (PayPal certificates, Adobe I/O public keys).

`RemoteKeys` fetches PEM documents only from HTTPS URLs on allowed hosts, caches them, and never
follows redirects; `host_allowed` is the host check.
"""
from __future__ import annotations

import threading
import time
from typing import Iterable
from urllib.parse import urlsplit

import httpx

from domain.errors import SignatureError

__all__ = ["RemoteKeys", "host_allowed"]


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
