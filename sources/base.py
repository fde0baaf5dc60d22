"""The one interface every platform source implements.

A source declares how to authenticate a platform's request and how to read its
payload; the gateway and the worker do the rest. Mandatory:

* ``platform``: the name in ``/webhooks/<platform>``;
* ``verify(request)``: check the raw bytes (raise `SignatureError`);
* ``describe(request)``: the event type and id, read cheaply at the gateway
  (raise `PayloadError` for a malformed body, `IgnoredEvent` for a ping);
* ``normalise(raw)``: the canonical order events (or `ThinEvent`\\ s) in a raw event.

Optional: ``challenge`` for handshakes (echo a token, answer HEAD), ``acknowledge``
for the body the platform expects back, ``fetch`` for thin events, ``dedup_key``.

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

import base64
import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, ClassVar, Mapping, Sequence
from urllib.parse import parse_qsl

import httpx

from invoicing.errors import ConfigError, FetchError, PayloadError, SignatureError
from invoicing.reasons import plain_reason
from invoicing.money import check_currency, q4, to_decimal
from invoicing.settings import PlatformSettings, platform_settings

__all__ = [
    "InboundRequest",
    "EventInfo",
    "Reply",
    "ThinEvent",
    "Source",
    "TRIGGERS",
    "TIMESTAMPED_HEADERS",
    "verify_timestamped_request",
    "order_event",
    "order_line",
    "party",
    "parse_json",
    "MAX_JSON_DEPTH",
    "schema_document",
    "one_typed_event",
    "hmac_digest",
    "constant_time_equal",
    "body_digest",
    "ms_to_datetime",
    "parse_time",
]

TRIGGERS = ("PAYMENT_RECEIVED", "SHIPMENT_CONFIRMED", "STAGE_REACHED", "CYCLE_END", "ORDER_CANCELLED", "ORDER_UPDATED")


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
    #: False for platforms that authenticate with a shared token only (a changed body cannot be detected)
    signs_body: ClassVar[bool] = True
    #: True when the signature covers a timestamp that may go stale (Stripe, HubSpot v3, JWTs)
    signed_timestamp: ClassVar[bool] = False
    #: how the platform delivers: webhook, poll, or both
    transport: ClassVar[str] = "webhook"
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
    def normalise(self, raw: Mapping[str, Any]) -> list[dict[str, Any] | ThinEvent]:
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

    def dedup_key(self, event: Mapping[str, Any]) -> str:
        """Key that is equal for redeliveries of the same platform event."""
        return f"{self.platform}:{event['event_id']}"

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[dict[str, Any]]:
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


#: the headers of our own timestamped HMAC scheme (`invoicing.webhook_auth.sign_timestamped`),
#: used by platforms whose webhooks we send from a script or workflow on their side (Epicor, NetSuite)
TIMESTAMPED_HEADERS = ("x-invoicing-timestamp", "x-invoicing-signature")


def verify_timestamped_request(source: Source, request: InboundRequest) -> None:
    """Check *request* against our timestamped HMAC scheme with *source*'s secret and tolerance.

    Raises:
        SignatureError: missing, stale or not matching.
    """
    from invoicing.webhook_auth import verify_timestamped

    verify_timestamped(source.secret(), request.body, request.header(TIMESTAMPED_HEADERS[0]),
                       request.header(TIMESTAMPED_HEADERS[1]), source.settings.timestamp_tolerance, source.platform)


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256", encoding: str = "base64") -> str:
    mac = hmac.new(key, message, getattr(hashlib, algorithm)).digest()
    return base64.b64encode(mac).decode() if encoding == "base64" else mac.hex()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return bool(a_b) and hmac.compare_digest(a_b, b_b)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


#: the deepest nesting of arrays and objects a JSON body may have (platforms' events stay under 15 levels);
#: deeper bodies are refused before parsing, so no reader ever recurses that deep
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_within(body: bytes, limit: int) -> bool:
    """True when the arrays and objects of JSON *body* nest at most *limit* deep (strings ignored)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return True
    skeleton = _JSON_STRING.sub(b"", body).translate(_OPEN_CLOSE, _NOT_BRACKETS)
    for _ in range(limit):  # each pass takes the innermost level away
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton = shorter
    return b"[]" not in skeleton and skeleton.count(b"[") <= limit


def parse_json(body: bytes) -> Any:
    """Parse JSON, keeping numbers exact (floats become Decimal). A body nested deeper than
    `MAX_JSON_DEPTH` is refused before it is parsed.

    Raises:
        PayloadError: not JSON, or nested too deep.
    """
    if not _nesting_within(body, MAX_JSON_DEPTH):
        raise PayloadError(f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise PayloadError(f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise PayloadError("body is not JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON: {exc.msg.lower()} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:  # an integer with more digits than Python converts (4,300)
        raise PayloadError("body has a number with too many digits to be read") from None


def schema_document(body: bytes, schema: str, *, id_field: str = "eventId", **shapes: type) -> dict[str, Any]:
    """*body* as one of the JSON documents our own scripts send (``"schema": schema``), with a
    non-empty *id_field* and each field named in *shapes* of the given type (``OrderDtl=list``).

    Raises:
        PayloadError: not JSON, or not such a document.
    """
    doc = parse_json(body)
    if not isinstance(doc, dict) or doc.get("schema") != schema or not doc.get(id_field) \
            or not all(isinstance(doc.get(name), kind) for name, kind in shapes.items()):
        raise PayloadError(f"body is not an {schema} document")
    return doc


def one_typed_event(raw: Mapping[str, Any], triggers: Mapping[str, str],
                    build: Callable[[Mapping[str, Any], dict[str, Any], str], dict[str, Any]], *,
                    not_an_event: str, lacking: str) -> list[dict[str, Any] | ThinEvent]:
    """The one order event of a JSON event body whose ``type`` is a key of *triggers*; ``[]`` for other types.

    *build(raw, doc, trigger)* makes the event; a field it misses becomes a `PayloadError`
    ``"<lacking> lacks <field>"``, a body that is no JSON object one saying *not_an_event*.
    """
    doc = parse_json(raw["body"])
    if not isinstance(doc, dict):
        raise PayloadError(not_an_event)
    trigger = triggers.get(str(doc.get("type")))
    if trigger is None:
        return []
    try:
        return [build(raw, doc, trigger)]
    except (KeyError, TypeError, AttributeError) as exc:
        raise PayloadError(plain_reason(exc, what=f"the {lacking}")) from None


def ms_to_datetime(ms: int | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


def parse_time(value: Any, default: datetime | None = None) -> datetime:
    """ISO 8601 (with Z or offset), or epoch seconds. Naive times are UTC."""
    if value in (None, ""):
        if default is None:
            raise PayloadError("missing timestamp")
        return default
    if isinstance(value, (int, Decimal)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"bad timestamp {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def party(name: str, *, email: str | None = None, vat_id: str | None = None, line1: str = "",
          line2: str | None = None, city: str = "", postal_code: str = "", region: str | None = None,
          country: str = "") -> dict[str, Any]:
    """The canonical buyer. Nothing is invented: a missing name or address stays empty, and the
    gate before numbering refuses the draft with the reason (or reference data fills it)."""
    return {"name": name or "", "email": email or None, "vat_id": vat_id or None,
            "address": {"line1": line1 or "", "line2": line2 or None, "city": city or "",
                        "postal_code": postal_code or "", "region": region or None,
                        "country": (country or "").upper()}}


def order_line(description: str, quantity: Any, unit_price: Any, *, sku: str | None = None,
               discount: Any = 0, tax_rate: Any = None) -> dict[str, Any]:
    """One canonical order line. Money and quantities must be exact (str/int/Decimal).

    Raises:
        PayloadError: a value that is not an exact number, or one that 4 decimals would turn into zero.
    """
    what = f"line {sku or description or ''}".strip()
    exact_qty, exact_price = to_decimal(quantity, f"{what} quantity"), to_decimal(unit_price, f"{what} unit price")
    for name, value in (("quantity", exact_qty), ("unit price", exact_price)):
        if value and not q4(value):
            raise PayloadError(f"{what} {name} {value:f} rounds to zero at 4 decimals")
    return {"sku": sku or None, "description": description or (sku or "Item"),
            "quantity": q4(exact_qty), "unit_price": q4(exact_price),
            "discount": q4(to_decimal(discount, "discount")),
            "tax_rate": q4(to_decimal(tax_rate, "tax_rate")) if tax_rate not in (None, "") else None}


def order_event(
    raw: Mapping[str, Any], *, event_id: str, trigger: str, external_order_id: str, customer: dict[str, Any],
    currency: str, lines: list[dict[str, Any]], occurred_at: datetime | None = None, order_key: str | None = None,
    order_number: str | None = None, customer_ref: str | None = None, tax_included: bool = False,
    shipping: Any = 0, announced_total: Any = None, amount_paid: Any = None, purchase_order: str | None = None,
    dedup_keys: Sequence[str] = (), attributes: Mapping[str, str] | None = None, event_type: str | None = None,
) -> dict[str, Any]:
    """Build a canonical `OrderEvent` record for *raw*.

    Raises:
        PayloadError: a missing or invalid field.
    """
    if trigger not in TRIGGERS:
        raise PayloadError(f"unknown trigger {trigger!r}")
    if not external_order_id:
        raise PayloadError("missing order id")
    platform = str(raw["platform"])
    return {
        "event_key": f"{platform}:{event_id}",
        "platform": platform,
        "event_id": str(event_id),
        "event_type": event_type or str(raw["event_type"]),
        "trigger": trigger,
        "occurred_at": occurred_at or raw["received_at"],
        "received_at": raw["received_at"],
        "order_key": order_key or f"{platform}:{external_order_id}",
        "external_order_id": str(external_order_id),
        "order_number": order_number,
        "customer_ref": customer_ref,
        "customer": customer,
        "currency": check_currency(currency),
        "tax_included": bool(tax_included),
        "lines": lines,
        "shipping": q4(to_decimal(shipping or 0, "shipping")),
        "announced_total": q4(to_decimal(announced_total, "total")) if announced_total not in (None, "") else None,
        "amount_paid": q4(to_decimal(amount_paid, "amount_paid")) if amount_paid not in (None, "") else None,
        "purchase_order": purchase_order or None,
        "dedup_keys": list(dedup_keys),
        "attributes": {k: str(v) for k, v in (attributes or {}).items()},
    }
