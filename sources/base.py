"""The one interface every platform source implements.

A source declares how to authenticate a platform's request and how to read its
payload; the gateway and the worker do the rest. Mandatory:

* ``platform``: the name in ``/webhooks/<platform>``;
* ``verify(request)``: check the raw bytes (raise `SignatureError`);
* ``describe(request)``: the event type and id, read cheaply at the gateway
  (raise `PayloadError` for a malformed body, `IgnoredEvent` for a ping);
* ``normalise(raw)``: the canonical order events (or `ThinEvent`\\ s) in a raw event.

Optional: ``challenge`` for handshakes (echo a token, answer HEAD), ``acknowledge``
for the body the platform expects back, ``fetch`` for thin events.

Example, a complete platform::

    class Acme(Source):
        platform = "acme"

        def verify(self, request):
            expected = hmac_b64(self.secret(), request.body)
            if not compare(expected, request.header("x-acme-signature")):
                raise SignatureError("bad signature")

        def describe(self, request):
            doc = parse_json(request.body)
            return EventInfo(event_type=doc["type"], event_id=doc["id"])

        def normalise(self, raw):
            doc = parse_json(raw["body"])
            return [order_event(raw, trigger="PAYMENT_RECEIVED", external_order_id=doc["order"], ...)]
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Mapping, Sequence
from urllib.parse import parse_qsl

import httpx

from domain.errors import ConfigError, FetchError, SignatureError
from domain.settings import PlatformSettings, platform_settings
from sources.canonical import OrderEvent

__all__ = ["InboundRequest", "EventInfo", "Reply", "ThinEvent", "Source"]

@dataclass(frozen=True)
class InboundRequest:
    """An HTTP request as the gateway received it; header names are lower case."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    url: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def query_params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass(frozen=True)
class EventInfo:
    event_type: str
    event_id: str
    keep_headers: Sequence[str] = ()


@dataclass(frozen=True)
class Reply:
    """A response a source wants sent back (handshakes, acknowledgements)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ThinEvent:
    """An event that names a document without carrying it; the worker fetches it."""

    event_id: str
    event_type: str
    trigger: str
    resource: str
    resource_id: str
    occurred_at: datetime
    attributes: Mapping[str, str] = field(default_factory=dict)


class Source(ABC):
    """Base of every platform source. Subclasses set `platform` and implement three methods."""

    platform: ClassVar[str]
    settings_class: ClassVar[type[PlatformSettings]] = PlatformSettings
    #: headers copied onto the raw event so the worker can verify and read it again
    keep_headers: ClassVar[tuple[str, ...]] = ()
    #: True when `normalise` yields ThinEvents that need `fetch`
    thin: ClassVar[bool] = False
    #: True when `verify` may fetch keys or certificates over the network: the gateway then
    #: runs it in a thread so one slow key server does not stall every other webhook
    blocking_verify: ClassVar[bool] = False

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = settings if settings is not None else platform_settings(self.platform, self.settings_class)

    # -- mandatory ----------------------------------------------------------
    @abstractmethod
    def verify(self, request: InboundRequest) -> None:
        """Authenticate *request* on its raw bytes.

        Raises:
            SignatureError: not authentic.
        """

    @abstractmethod
    def describe(self, request: InboundRequest) -> EventInfo:
        """Event type and id of an authentic request.

        Raises:
            PayloadError: malformed body.
            IgnoredEvent: nothing to bill (ping, status we do not bill on).
        """

    @abstractmethod
    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        """Canonical order events in the raw event *raw* (a decoded `RawEvent`).

        Raises:
            PayloadError: the body cannot be read as this platform's event.
        """

    # -- optional -----------------------------------------------------------
    def challenge(self, request: InboundRequest) -> Reply | None:
        """Answer a handshake before verification, or ``None``."""
        return None

    def acknowledge(self, request: InboundRequest, info: EventInfo) -> Reply:
        """What the platform expects once the event is safely on the broker."""
        return Reply(200, b'{"status":"accepted"}')

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        """Fetch the full document of a thin event and build its order events.

        Raises:
            FetchError: the platform API failed (retriable or not).
        """
        raise FetchError(f"{self.platform} cannot fetch {event.resource}", retriable=False)

    # -- helpers ------------------------------------------------------------
    def secret(self) -> bytes:
        """The webhook secret, or a `SignatureError` when none is configured (fail closed)."""
        s = self.settings.secret
        if s is None or not s.get_secret_value():
            raise SignatureError(f"no secret configured for {self.platform} (INVOICING_{self.platform.upper().replace('-', '_')}_SECRET)")
        return s.get_secret_value().encode()

    def base_url(self) -> str:
        if not self.settings.base_url:
            raise ConfigError(f"{self.platform}: base URL not configured")
        return self.settings.base_url.rstrip("/")


# ---------------------------------------------------------------------------
# helpers for platform modules
