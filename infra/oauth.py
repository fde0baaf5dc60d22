"""OAuth 2.0 for target systems, as ``httpx.Auth`` subclasses (the httpx model: encode/httpx/httpx/_auth.py).

One `TokenCache` per (token URL, client id) is shared by every call to the same
tenant. Tokens are refreshed shortly before they expire and once more when the
target answers 401. Token values never appear in logs, errors or topics:
errors name the token endpoint and HTTP status only.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Generator, Mapping

import httpx

from domain.errors import AuthError, RetriableSinkError
from infra.token_store import token_store
from infra.http import retry_after_seconds, why_unreachable

__all__ = ["TokenCache", "OAuth2ClientCredentials", "OAuth2RefreshToken", "OAuth2Password", "StaticBearer", "token_cache"]

_REFRESH_MARGIN = 60.0


@dataclass
class TokenCache:
    """The current access token of one tenant, refreshed by whoever finds it stale."""

    access_token: str | None = None
    expires_at: float = 0.0
    refresh_token: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshes: int = 0

    def valid(self) -> bool:
        return self.access_token is not None and time.monotonic() < self.expires_at - _REFRESH_MARGIN


_CACHES: dict[tuple[str, str], TokenCache] = {}


def token_cache(token_url: str, client_id: str) -> TokenCache:
    """The process-wide cache for one (token endpoint, client)."""
    return _CACHES.setdefault((token_url, client_id), TokenCache())


class _OAuth2(httpx.Auth):
    """Bearer auth with a token from a token endpoint; subclasses say which grant."""

    requires_response_body = False

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None,
                 client: httpx.AsyncClient | None = None, cache: TokenCache | None = None,
                 header: str = "Authorization", scheme: str = "Bearer", basic_client_auth: bool = False,
                 extra: Mapping[str, str] | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._client = client
        self.cache = cache if cache is not None else token_cache(token_url, client_id)
        self.header = header
        self.scheme = scheme
        self.basic_client_auth = basic_client_auth
        self.extra = dict(extra or {})  # further form fields of the token request (Intacct's Web Services user)

    def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    async def _refresh(self, stale: str | None) -> None:
        async with self.cache.lock:
            if self.cache.access_token != stale and self.cache.valid():
                return  # another call refreshed it meanwhile
            data = {**self._grant(), **self.extra}
            if self.scope:
                data["scope"] = self.scope
            auth: httpx.Auth | None = None
            if self.basic_client_auth:
                auth = httpx.BasicAuth(self.client_id, self._client_secret)
            else:
                data.update(client_id=self.client_id, client_secret=self._client_secret)
            client = self._client or httpx.AsyncClient(timeout=10)
            try:
                r = await client.post(self.token_url, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise RetriableSinkError(f"token endpoint {self.token_url} unreachable: {why_unreachable(exc)}") from None
            finally:
                if self._client is None:
                    await client.aclose()
            if r.status_code >= 500 or r.status_code == 429:
                raise RetriableSinkError(f"token endpoint {self.token_url}: HTTP {r.status_code}",
                                         retry_after=retry_after_seconds(r.headers.get("retry-after")))
            if r.status_code >= 400:
                raise AuthError(f"token endpoint {self.token_url} refused the credentials: HTTP {r.status_code}")
            doc = r.json()
            self.cache.access_token = str(doc["access_token"])
            self.cache.expires_at = time.monotonic() + float(doc.get("expires_in") or 3600)
            if doc.get("refresh_token"):
                self.cache.refresh_token = str(doc["refresh_token"])
                store = token_store()
                if store is not None:  # rotated: keep it for the next start (encrypted)
                    store.put(_store_name(self.token_url, self.client_id), self.cache.refresh_token)
            self.cache.refreshes += 1

    def _apply(self, request: httpx.Request) -> None:
        request.headers[self.header] = f"{self.scheme} {self.cache.access_token}" if self.scheme else str(self.cache.access_token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self.cache.valid():
            await self._refresh(self.cache.access_token)
        used = self.cache.access_token
        self._apply(request)
        response = yield request
        if response.status_code == 401:
            await self._refresh(used)
            self._apply(request)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("target-system auth is async only")


class OAuth2ClientCredentials(_OAuth2):
    """``grant_type=client_credentials`` (Dynamics/Entra ID, PayPal, Sage Intacct, Infor ION, NetSuite M2M)."""

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "client_credentials"}


def _store_name(token_url: str, client_id: str) -> str:
    return f"{token_url}|{client_id}"


class OAuth2RefreshToken(_OAuth2):
    """``grant_type=refresh_token`` (QuickBooks, Xero, Zoho, FreshBooks, Wave, HubSpot). Rotated refresh tokens are kept."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, refresh_token: str, **kwargs: Any) -> None:
        super().__init__(token_url, client_id, client_secret, **kwargs)
        if self.cache.refresh_token is None:
            store = token_store()
            stored = store.get(_store_name(token_url, client_id)) if store is not None else None
            self.cache.refresh_token = stored or refresh_token

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": str(self.cache.refresh_token)}


class OAuth2Password(_OAuth2):
    """``grant_type=password`` (Infor ION API service accounts: the .ionapi ``saak``/``sask`` as user name and password)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, username: str, password: str,
                 **kwargs: Any) -> None:
        super().__init__(token_url, client_id, client_secret, **kwargs)
        self._username, self._password = username, password

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "password", "username": self._username, "password": self._password}


class StaticBearer(httpx.Auth):
    """A fixed API key or token in a header (Stripe secret key, Odoo API key, Magento admin token)."""

    def __init__(self, token: str, header: str = "Authorization", scheme: str = "Bearer") -> None:
        self._value = f"{scheme} {token}" if scheme else token
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self._value
        yield request

    def __repr__(self) -> str:
        return f"StaticBearer(header={self.header!r}, token=***)"
