"""Authenticated GETs for thin-event sources and pollers.

* `oauth_refresh` builds the platform's OAuth 2.0 refresh-token auth from its
  settings (``client_id``, ``client_secret``, ``refresh_token``, ``token_url``),
  or a static bearer when only ``access_token`` is configured. A ``token_url``
  that starts with ``/`` is resolved against ``base_url`` (sandboxes, tests).
* `get_json` is `invoicing.source_http.request_json` plus the token step: a token
  endpoint that fails or refuses is a retriable `FetchError` (the event is parked,
  never dropped), and no token value reaches a message.
"""
from __future__ import annotations

from typing import Any, Mapping

import httpx

from invoicing.errors import ConfigError, FetchError, SinkError
from invoicing.settings import PlatformSettings
from invoicing.source_http import request_json

__all__ = ["oauth_refresh", "get_json", "post_json", "resolve_url"]


def resolve_url(settings: PlatformSettings, url: str) -> str:
    """*url*, or ``base_url`` + *url* when *url* is a path."""
    if url.startswith("/"):
        if not settings.base_url:
            raise ConfigError(f"relative URL {url!r} needs a base URL")
        return settings.base_url.rstrip("/") + url
    return url


def oauth_refresh(settings: PlatformSettings, default_token_url: str, *, basic_client_auth: bool = False) -> httpx.Auth:
    """The platform's API auth: refresh-token grant, or a static bearer token.

    Raises:
        ConfigError: neither a refresh token with client credentials nor an access token is configured.
    """
    from sinks.auth import OAuth2RefreshToken, StaticBearer

    refresh = settings.refresh_token.get_secret_value() if settings.refresh_token else ""
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
    if refresh and settings.client_id and secret:
        token_url = resolve_url(settings, settings.token_url or default_token_url)
        return OAuth2RefreshToken(token_url, settings.client_id, secret, refresh, basic_client_auth=basic_client_auth)
    if settings.access_token and settings.access_token.get_secret_value():
        return StaticBearer(settings.access_token.get_secret_value())
    raise ConfigError("API credentials missing: set CLIENT_ID, CLIENT_SECRET and REFRESH_TOKEN (or ACCESS_TOKEN)")


async def get_json(client: httpx.AsyncClient, platform: str, url: str, *, auth: httpx.Auth | tuple[str, str] | None,
                   headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None) -> Any:
    """GET *url* and return its JSON (floats as Decimal).

    Raises:
        FetchError: transport, token or HTTP failure (see `invoicing.source_http.request_json`).
    """
    return await _call(client, platform, "GET", url, auth=auth, headers=headers, params=params)


async def post_json(client: httpx.AsyncClient, platform: str, url: str, *, auth: httpx.Auth | tuple[str, str] | None,
                    json: Any, headers: Mapping[str, str] | None = None) -> Any:
    """POST *json* to *url* (GraphQL APIs) and return the JSON answer.

    Raises:
        FetchError: as `get_json`.
    """
    return await _call(client, platform, "POST", url, auth=auth, headers=headers, json=json)


async def _call(client: httpx.AsyncClient, platform: str, method: str, url: str, **kwargs: Any) -> Any:
    try:
        return await request_json(client, platform, method, url, **kwargs)
    except SinkError as exc:  # the token endpoint (sinks.auth raises sink errors)
        raise FetchError(f"{platform} API token: {exc}", retriable=True) from None
    except ConfigError as exc:
        raise FetchError(f"{platform} API not configured: {exc}", retriable=True) from None
