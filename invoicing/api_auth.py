"""Reading platform APIs for thin events: credentials from `PlatformSettings`, errors as `FetchError`.

`api_auth` picks, from what is configured: OAuth2 client credentials
(``CLIENT_ID`` + ``CLIENT_SECRET``; token URL from ``TOKEN_URL``, which may be a
path relative to ``BASE_URL``, else the platform default), a static bearer
(``ACCESS_TOKEN`` / ``API_KEY``), or HTTP Basic (``USERNAME`` + ``PASSWORD``).
`fetch_json` wraps `invoicing.source_http.request_json` and also maps token-endpoint
failures: unreachable/5xx → retriable, refused credentials → not retriable.
"""
from __future__ import annotations

from typing import Any, Mapping

import httpx

from invoicing.errors import AuthError, ConfigError, FetchError, RetriableSinkError
from invoicing.settings import PlatformSettings
from invoicing.source_http import request_json
from sinks.auth import OAuth2ClientCredentials, StaticBearer

__all__ = ["api_auth", "fetch_json", "resolve_token_url"]


def resolve_token_url(settings: PlatformSettings, base_url: str, default: str | None) -> str:
    url = settings.token_url or default
    if not url:
        raise ConfigError("token URL not configured")
    return base_url.rstrip("/") + url if url.startswith("/") else url


def api_auth(settings: PlatformSettings, base_url: str, client: httpx.AsyncClient, *,
             token_url: str | None = None, scope: str | None = None, prefer: str = "oauth") -> httpx.Auth:
    """The platform API credentials that are configured.

    Raises:
        ConfigError: none are.
    """
    def oauth() -> httpx.Auth | None:
        if settings.client_id and settings.client_secret:
            return OAuth2ClientCredentials(resolve_token_url(settings, base_url, token_url), settings.client_id,
                                           settings.client_secret.get_secret_value(), scope=scope, client=client)
        return None

    def bearer() -> httpx.Auth | None:
        tok = settings.access_token or settings.api_key
        return StaticBearer(tok.get_secret_value()) if tok else None

    def basic() -> httpx.Auth | None:
        if settings.username and settings.password:
            return httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        return None

    order = (basic, oauth, bearer) if prefer == "basic" else (oauth, bearer, basic)
    for make in order:
        auth = make()
        if auth is not None:
            return auth
    raise ConfigError("no API credentials configured (client id/secret, access token or username/password)")


async def fetch_json(client: httpx.AsyncClient, platform: str, method: str, url: str, *, auth: httpx.Auth,
                     headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                     json: Any = None) -> Any:
    """JSON of one platform API call (floats as Decimal).

    Raises:
        FetchError: transport, HTTP or token failure (retriable unless the credentials or request are wrong).
    """
    try:
        return await request_json(client, platform, method, url, headers=headers, params=params, json=json, auth=auth)
    except RetriableSinkError as exc:
        raise FetchError(f"{platform}: {exc}", retriable=True) from None
    except AuthError as exc:
        raise FetchError(f"{platform}: {exc}", retriable=False) from None
