"""How a target authenticates, declared once per sink, and the one place that turns it into an ``httpx.Auth``.

A sink declares what it needs as data; `Sink.__init__` calls `build_auth`, so a missing credential
or setting stops the worker at start with the variables named, never at the first delivery::

    class XeroSink(Sink):
        auth_spec = RefreshToken()
        requires = (Need("tenant", "the xero-tenant-id"),)

    class SapSink(Sink):
        auth_spec = AnyOf(ClientCredentials(), Basic())     # tried in order: the first one fully set wins
        requires = (Need("base_url"),)

The ways (infra/oauth.py holds the ``httpx.Auth`` classes themselves):

* `ClientCredentials`, `RefreshToken`, `PasswordGrant`: OAuth 2.0 grants at a token endpoint, with
  the token URL, scope and header scheme as small functions of the settings where a platform
  derives them (``<base_url>/v1/oauth2/token``, Entra ID's ``<tenant>`` URL, Zoho's data centre);
* `Bearer`: a fixed key or token from one settings field;
* `Basic`: HTTP Basic from ``username``/``password``;
* `AnyOf`: alternatives, tried in order.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import httpx
from pydantic import SecretStr

from domain.errors import ConfigError
from domain.settings import PlatformSettings, platform_env_prefix
from infra.oauth import OAuth2ClientCredentials, OAuth2Password, OAuth2RefreshToken, StaticBearer

__all__ = ["AnyOf", "AuthSpec", "Basic", "Bearer", "ClientCredentials", "Need", "PasswordGrant", "RefreshToken",
           "Setting", "build_auth", "configured", "setting_value", "under_base_url"]

#: a value computed from a target's settings (``None`` when it cannot be)
Setting = Callable[[Any], "str | None"]


def setting_value(settings: PlatformSettings, name: str) -> str | None:
    """The value of the field *name* as text (secrets revealed), ``None`` when unset or empty."""
    value = getattr(settings, name, None)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return str(value) if value else None


def configured(name: str) -> Setting:
    """The field *name* as it is configured."""
    return lambda settings: setting_value(settings, name)


def under_base_url(path: str, name: str = "token_url") -> Setting:
    """The field *name* when configured, else ``<base_url><path>`` (a platform's fixed token endpoint)."""

    def value(settings: Any) -> str | None:
        base = setting_value(settings, "base_url")
        return setting_value(settings, name) or (base.rstrip("/") + path if base else None)

    return value


@dataclass(frozen=True)
class Need:
    """A setting the target cannot work without: the field, and what it is (for the error)."""

    field: str
    what: str | None = None

    def variable(self, target: str) -> str:
        name = platform_env_prefix(target) + self.field.upper()
        return f"{name} ({self.what})" if self.what else name


class AuthSpec(ABC):
    """One way a target authenticates."""

    @abstractmethod
    def missing(self, settings: PlatformSettings) -> list[Need]:
        """What *settings* lack for this way (empty: it can be built)."""

    @abstractmethod
    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        """The auth; only called when `missing` is empty."""

    def options(self) -> tuple[AuthSpec, ...]:
        """The alternatives, in the order they are tried."""
        return (self,)


def _need(settings: PlatformSettings, *needs: Need) -> list[Need]:
    return [n for n in needs if not setting_value(settings, n.field)]


def _text(settings: PlatformSettings, name: str) -> str:
    value = setting_value(settings, name)
    assert value is not None, f"{name} checked by missing()"
    return value


@dataclass(frozen=True)
class _Grant(AuthSpec):
    """An OAuth 2.0 grant at a token endpoint.

    Attributes:
        token_url: the endpoint, from the settings (default: ``token_url`` as configured).
        token_url_from: the field to name when *token_url* yields nothing (``base_url`` for
            an endpoint under the API's base URL).
        scope: the scope requested, if any.
        basic_client_auth: client id and secret as HTTP Basic (else in the form).
        scheme: the Authorization scheme the API wants (``Zoho-oauthtoken``).
        form: further fields of the token request: form name → settings field.
    """

    token_url: Setting = configured("token_url")
    token_url_from: str = "token_url"
    scope: Setting | None = None
    basic_client_auth: bool = False
    scheme: str = "Bearer"
    form: tuple[tuple[str, str], ...] = ()

    fields: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def missing(self, settings: PlatformSettings) -> list[Need]:
        gaps = _need(settings, *(Need(f) for f in self.fields))
        return gaps + ([] if self.token_url(settings) else [Need(self.token_url_from)])

    def _kwargs(self, settings: PlatformSettings, client: httpx.AsyncClient) -> dict[str, Any]:
        form = {k: v for k, f in self.form if (v := setting_value(settings, f))}
        return dict(scope=self.scope(settings) if self.scope else None, client=client, scheme=self.scheme,
                    basic_client_auth=self.basic_client_auth, extra=form)

    def _endpoint(self, settings: PlatformSettings) -> tuple[str, str, str]:
        url = self.token_url(settings)
        assert url is not None, "checked by missing()"
        return url, _text(settings, "client_id"), _text(settings, "client_secret")


@dataclass(frozen=True)
class ClientCredentials(_Grant):
    """``grant_type=client_credentials`` with ``client_id`` and ``client_secret``."""

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return OAuth2ClientCredentials(*self._endpoint(settings), **self._kwargs(settings, client))


@dataclass(frozen=True)
class RefreshToken(_Grant):
    """``grant_type=refresh_token`` with ``client_id``, ``client_secret`` and ``refresh_token`` (rotations kept)."""

    fields: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return OAuth2RefreshToken(*self._endpoint(settings), _text(settings, "refresh_token"),
                                  **self._kwargs(settings, client))


@dataclass(frozen=True)
class PasswordGrant(_Grant):
    """``grant_type=password`` with the client and a user's ``username`` and ``password`` (Infor ION saak/sask)."""

    fields: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "username", "password")

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return OAuth2Password(*self._endpoint(settings), _text(settings, "username"), _text(settings, "password"),
                              **self._kwargs(settings, client))


@dataclass(frozen=True)
class Bearer(AuthSpec):
    """A fixed key or token from the settings field *field*, as ``<scheme> <value>`` in *header*."""

    field: str = "api_key"
    what: str | None = None
    header: str = "Authorization"
    scheme: str = "Bearer"

    def missing(self, settings: PlatformSettings) -> list[Need]:
        return _need(settings, Need(self.field, self.what))

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return StaticBearer(_text(settings, self.field), header=self.header, scheme=self.scheme)


@dataclass(frozen=True)
class Basic(AuthSpec):
    """HTTP Basic from ``username`` and ``password``."""

    def missing(self, settings: PlatformSettings) -> list[Need]:
        return _need(settings, Need("username"), Need("password"))

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return httpx.BasicAuth(_text(settings, "username"), _text(settings, "password"))


class AnyOf(AuthSpec):
    """Alternatives tried in order: the first whose settings are all there is built."""

    def __init__(self, *alternatives: AuthSpec) -> None:
        self.alternatives = alternatives

    def options(self) -> tuple[AuthSpec, ...]:
        return self.alternatives

    def missing(self, settings: PlatformSettings) -> list[Need]:
        gaps = [o.missing(settings) for o in self.alternatives]
        return [] if any(not g for g in gaps) else gaps[0]

    def build(self, settings: PlatformSettings, client: httpx.AsyncClient) -> httpx.Auth:
        return next(o for o in self.alternatives if not o.missing(settings)).build(settings, client)

    def __repr__(self) -> str:
        return f"AnyOf{self.alternatives!r}"


def _names(target: str, needs: list[Need]) -> str:
    names = [n.variable(target) for n in needs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _are(needs: list[Need]) -> str:
    return "is" if len(needs) == 1 else "are"


def _unique(needs: list[Need]) -> list[Need]:
    seen: dict[str, Need] = {}
    for n in needs:
        if n.field not in seen or (n.what and not seen[n.field].what):
            seen[n.field] = n
    return list(seen.values())


def build_auth(target: str, settings: PlatformSettings, client: httpx.AsyncClient, spec: AuthSpec | None,
               requires: tuple[Need, ...] = ()) -> httpx.Auth:
    """Check *settings* against what the target *requires* and build its auth from *spec* (``None``: none, and
    the result is ``httpx.Auth()``, which sends requests as they are).

    Raises:
        ConfigError: naming every missing variable, e.g. ``xero: INVOICING_XERO_TENANT (the xero-tenant-id)
            is required``; for alternatives, each set that would do (``set … or …``).
    """
    required = _need(settings, *requires)
    options = spec.options() if spec is not None else ()
    named = {n.field for n in required}
    gaps = [_unique([g for g in o.missing(settings) if g.field not in named]) for o in options]
    if options and all(gaps):
        if len(options) > 1:
            head = f"{_names(target, required)} {_are(required)} required; " if required else ""
            raise ConfigError(f"{target}: {head}set " + ", or ".join(_names(target, gap) for gap in gaps))
        required = _unique(required + gaps[0])
    if required:
        raise ConfigError(f"{target}: {_names(target, required)} {_are(required)} required")
    return spec.build(settings, client) if spec is not None else httpx.Auth()
