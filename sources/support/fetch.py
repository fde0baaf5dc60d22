"""Reading platform APIs for thin events: credentials from `PlatformSettings`, every failure a `FetchError`.

* `platform_auth` builds the API auth that is configured, as an ``httpx.Auth`` (`infra.oauth`):
  OAuth 2.0 (the platform's grant: client credentials with ``CLIENT_ID`` + ``CLIENT_SECRET``,
  or refresh token with ``REFRESH_TOKEN`` as well), a static bearer (``ACCESS_TOKEN`` /
  ``API_KEY``) or HTTP Basic (``USERNAME`` + ``PASSWORD``). A token URL that starts with ``/``
  is resolved against the base URL (sandboxes, tests).
* `fetch_json` calls the API and maps every failure to `FetchError`: connection errors,
  timeouts, 401/403, 408/409/425/429 and 5xx are retriable; other 4xx are not (the document is
  gone or the request is wrong), though the pipeline parks those too, never drops them. A token
  endpoint that fails or refuses is retriable as well (the event waits for working credentials),
  and no token value reaches a message.
"""
from __future__ import annotations

from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

import httpx

from infra.http import why_unreachable
from sources.support.payload import parse_json
from domain.errors import ConfigError, FetchError, PayloadError, SinkError
from domain.settings import PlatformSettings

__all__ = ["platform_auth", "fetch_json"]

_RETRIABLE = frozenset({401, 403, 408, 409, 425, 429})


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def _token_url(settings: PlatformSettings, base_url: str | None, default: str | None) -> str:
    url = settings.token_url or default
    if not url:
        raise ConfigError("token URL not configured")
    if not url.startswith("/"):
        return url
    base = base_url or settings.base_url
    if not base:
        raise ConfigError(f"relative token URL {url!r} needs a base URL")
    return base.rstrip("/") + url


def platform_auth(settings: PlatformSettings, *, grant: Literal["client_credentials", "refresh_token"],
                  token_url: str | None = None, base_url: str | None = None, scope: str | None = None,
                  client: httpx.AsyncClient | None = None, basic_client_auth: bool = False,
                  prefer_basic: bool = False) -> httpx.Auth:
    """The platform API credentials that are configured, tried in this order: OAuth 2.0 with
    *grant*, a static bearer, HTTP Basic (Basic first with *prefer_basic*).

    Args:
        settings: the platform's settings.
        grant: the OAuth 2.0 grant the platform uses.
        token_url: the platform's token endpoint when ``TOKEN_URL`` is not set (a path is
            resolved against *base_url*, else ``BASE_URL``).
        base_url: the API base the source uses.
        scope: OAuth scope, if the platform wants one.
        client: HTTP client for the token endpoint (default: one per refresh).
        basic_client_auth: send the client credentials to the token endpoint as HTTP Basic.
        prefer_basic: try username/password before OAuth (SAP, Oracle Fusion).

    Raises:
        ConfigError: no credentials are configured, or a relative token URL has no base.
    """
    from infra.oauth import OAuth2ClientCredentials, OAuth2RefreshToken, StaticBearer

    def oauth() -> httpx.Auth | None:
        cid, secret = settings.client_id, _secret(settings.client_secret)
        if not (cid and secret):
            return None
        if grant == "refresh_token":
            refresh = _secret(settings.refresh_token)
            if not refresh:
                return None
            return OAuth2RefreshToken(_token_url(settings, base_url, token_url), cid, secret, refresh, scope=scope,
                                      client=client, basic_client_auth=basic_client_auth)
        return OAuth2ClientCredentials(_token_url(settings, base_url, token_url), cid, secret, scope=scope,
                                       client=client, basic_client_auth=basic_client_auth)

    def bearer() -> httpx.Auth | None:
        token = _secret(settings.access_token) or _secret(settings.api_key)
        return StaticBearer(token) if token else None

    def basic() -> httpx.Auth | None:
        password = _secret(settings.password)
        return httpx.BasicAuth(settings.username, password) if settings.username and password else None

    for make in ((basic, oauth, bearer) if prefer_basic else (oauth, bearer, basic)):
        auth = make()
        if auth is not None:
            return auth
    needed = "CLIENT_ID, CLIENT_SECRET" + (" and REFRESH_TOKEN" if grant == "refresh_token" else "")
    raise ConfigError(f"API credentials missing: set {needed} (or ACCESS_TOKEN / API_KEY, or USERNAME and PASSWORD)")


async def fetch_json(client: httpx.AsyncClient, platform: str, method: str, url: str, *,
                     auth: httpx.Auth | tuple[str, str] | None = None, headers: Mapping[str, str] | None = None,
                     params: Mapping[str, str] | None = None, json: Any = None,
                     data: Mapping[str, str] | None = None) -> Any:
    """Call a platform API and return its JSON (floats as Decimal).

    Raises:
        FetchError: transport, HTTP or token failure (``retriable`` as described in the module).
    """

    where = f"{platform} API {method} {urlsplit(url).path}"
    try:
        resp = await client.request(method, url, headers=dict(headers or {}), params=params, json=json,
                                    data=data, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError as exc:
        raise FetchError(f"{where}: {why_unreachable(exc)}", retriable=True) from None
    except SinkError as exc:  # the token endpoint (infra.oauth raises sink errors)
        raise FetchError(f"{platform} API token: {exc}", retriable=True) from None
    except ConfigError as exc:
        raise FetchError(f"{platform} API not configured: {exc}", retriable=True) from None
    if resp.status_code >= 300:
        retriable = resp.status_code >= 500 or resp.status_code in _RETRIABLE
        raise FetchError(f"{where} answered {resp.status_code}", retriable=retriable)
    try:
        return parse_json(resp.content)
    except PayloadError:
        raise FetchError(f"{where} did not answer JSON", retriable=True) from None
