"""The one interface every target system implements.

A sink has a ``target`` name and two coroutines:

* ``create_invoice(invoice, idempotency_key) -> InvoiceRef``: create the invoice
  at the target, passing the key to the platform's own idempotency mechanism
  where it has one;
* ``find_invoice(invoice, idempotency_key) -> InvoiceRef | None``: look it up
  (by our invoice number or the key), so a crash between the target's
  acceptance and our receipt never creates a second one.

Credit notes go through the target's own credit-note mechanism, linked to the target's
copy of the invoice they correct: ``find_credit_note(note, key)`` and
``create_credit_note(note, key, original)``, where *original* is what ``find_invoice``
found for the corrected invoice (`original_of(note)`). A target that has no credit notes
sets ``no_credit_notes`` to the reason, citing the vendor's documentation; its credit notes
get a ``NOT_APPLICABLE`` receipt and reach the customer by e-mail and the register.

Tax reaches every target as tax: ``tax_mapping_gaps(taxes)`` names each (category, rate)
the reference data can produce that the target's settings cannot book (the worker refuses
to start while there is one); targets that take a rate as such return none.

Errors are ours (`domain.errors`): `RetriableSinkError` (429/5xx/timeouts,
with ``retry_after``), `AuthError` (401/403), `InvoiceRejected` (other 4xx).
`raise_for_status` maps an HTTP response onto them (optionally keeping the platform's own
message, blanking out secrets and treating platform-specific throttling as retriable).

The constructor takes the target's typed settings, an ``httpx.AsyncClient`` (the caller's: one per
worker, shared) and the pipeline settings, all required, and checks them: what the sink declares it
``requires`` and its ``auth_spec`` (`sinks.credentials`) are resolved there, once, into ``self.auth``.
A missing credential or setting raises `ConfigError` naming the variables, so a worker that builds its
configured targets at start (`sinks.registry.build_sink`) stops there instead of parking invoices later.

Example::

    class Acme(Sink):
        target = "acme"
        auth_spec = ClientCredentials(token_url=under_base_url("/oauth/token"), token_url_from="base_url")
        requires = (Need("base_url"),)

        async def find_invoice(self, invoice, key):
            r = await self.client.get(f"{self.base_url()}/invoices", params={"number": invoice["number"]}, auth=self.auth)
            raise_for_status(r)
            found = r.json()["items"]
            return InvoiceRef(found[0]["id"]) if found else None

        async def create_invoice(self, invoice, key):
            r = await self.client.post(f"{self.base_url()}/invoices", json=to_acme(invoice),
                                       headers={"Idempotency-Key": key}, auth=self.auth)
            raise_for_status(r)
            return InvoiceRef(r.json()["id"])
"""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, ClassVar, Collection, Iterable, Mapping

import httpx
from pydantic import SecretStr

from domain.documents.ubl import ubl_profile
from domain.documents.validate import ValidationFailed, require_valid
from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from domain.metrics import DOCUMENTS_REJECTED
from domain.settings import PlatformSettings, Settings
from infra.http import retry_after_seconds
from sinks.credentials import AuthSpec, Need, build_auth, setting_value

__all__ = ["InvoiceRef", "Sink", "TaxKey", "original_of", "raise_for_status", "retry_after_seconds"]

#: an EN 16931 VAT category and rate, e.g. ``("S", Decimal("19"))``
TaxKey = tuple[str, Decimal]


@dataclass(frozen=True)
class InvoiceRef:
    """The target system's identity for a delivered invoice."""

    external_id: str
    url: str | None = None


class Sink(ABC):
    """Base of every target system connector."""

    target: ClassVar[str]
    settings_class: ClassVar[type[PlatformSettings]] = PlatformSettings
    #: requests per minute per tenant the target publishes (None: no published limit)
    rate_limit_per_minute: ClassVar[float | None] = None
    #: ``None`` when the target books credit notes; otherwise why it has none, citing the vendor's documentation
    no_credit_notes: ClassVar[str | None] = None
    #: True when the target computes tax per line from a rate and takes no tax amount: an invoice whose tax,
    #: rounded per line, differs from EN 16931's tax rounded per group cannot be booked as issued there;
    #: the sink refuses it (parked, with the reason) instead of booking other figures
    rounds_tax_per_line: ClassVar[bool] = False
    #: how the target authenticates (`sinks.credentials`); ``None``: no HTTP auth
    auth_spec: ClassVar[AuthSpec | None] = None
    #: settings the target cannot work without besides its credentials (tenant, base URL...)
    requires: ClassVar[tuple[Need, ...]] = ()

    def __init__(self, settings: PlatformSettings, client: httpx.AsyncClient, pipeline: Settings) -> None:
        """Check *settings* and build the auth.

        Raises:
            ConfigError: a credential or required setting is missing (the variables are named).
            TypeError: *settings* are not this target's ``settings_class``.
        """
        if not isinstance(settings, self.settings_class):
            raise TypeError(f"{self.target}: settings must be {self.settings_class.__name__}, not {type(settings).__name__}")
        self.settings = settings
        self.client = client
        self.pipeline = pipeline
        self.auth = build_auth(self.target, settings, client, self.auth_spec, self.requires)

    @abstractmethod
    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        """Create *invoice* at the target.

        Raises:
            RetriableSinkError: try again later.
            FatalSinkError: do not retry; park the invoice.
        """

    @abstractmethod
    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        """The target's copy of *invoice*, or ``None``.

        Raises:
            RetriableSinkError / FatalSinkError as `create_invoice`.
        """

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        """The target's copy of the credit note *note*, or ``None``.

        Raises:
            RetriableSinkError / FatalSinkError as `create_invoice`.
        """
        raise InvoiceRejected(f"{self.target}: credit notes are not implemented")

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        """Book *note* through the target's credit-note mechanism, linked or allocated to *original*
        (the target's copy of the invoice *note* corrects).

        Raises:
            RetriableSinkError / FatalSinkError as `create_invoice`.
        """
        raise InvoiceRejected(f"{self.target}: credit notes are not implemented")

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        """For each (category, rate) in *taxes* that this target's settings cannot book as tax, the
        setting to add (e.g. ``'INVOICING_XERO_TAX_TYPES has no entry "S:19"'``). Default: none, for
        targets that take the rate itself."""
        return []

    async def check_einvoice(self, kind: str, data: bytes, invoice: Mapping[str, Any]) -> None:
        """Before an e-invoice channel delivers *data* (``ubl``, ``cii`` or ``facturx``): validate it (XSD, EN 16931
        rules, Peppol rules for Peppol documents) unless ``INVOICING_VALIDATE_DOCUMENTS=false``.

        Raises:
            InvoiceRejected: it fails; the message names the rule ids (counted in
                ``invoicing_documents_rejected_total``).
        """
        if not self.pipeline.validate_documents:
            return
        profile = ubl_profile(invoice) if kind == "ubl" else None
        try:
            await asyncio.to_thread(require_valid, kind, data, str(invoice["number"]), profile)
        except ValidationFailed as exc:
            DOCUMENTS_REJECTED.labels(kind, self.target).inc()
            raise InvoiceRejected(f"{self.target}: {exc}: not delivered; fix the data it comes from (reference data, "
                                  "the order), then replay") from None

    async def start(self) -> None:
        """Optional set-up (open connections, check credentials)."""

    async def close(self) -> None:
        """Close the HTTP client: only for a sink that was given a client of its own (tests, CLIs);
        a worker's sinks share one, which the worker closes."""
        await self.client.aclose()

    def base_url(self) -> str:
        """The API base URL; a sink that calls this ``requires`` ``base_url`` or has a default for it."""
        return str(self.settings.base_url).rstrip("/")

    def _secrets(self) -> list[str | None]:
        """Every secret in the settings, to blank out of error texts (`raise_for_status`)."""
        return [setting_value(self.settings, name) for name, value in self.settings if isinstance(value, SecretStr)]


def original_of(note: Mapping[str, Any]) -> dict[str, Any]:
    """The invoice a credit note corrects, as ``find_invoice`` looks it up: its id, number and date
    (the rest, customer and currency, is the same on both documents)."""
    return {**note, "invoice_id": note.get("preceding_invoice_id") or "", "number": note.get("preceding_invoice") or "",
            "issue_date": note.get("preceding_invoice_date") or note["issue_date"], "document_type": "INVOICE",
            "preceding_invoice": None, "preceding_invoice_date": None, "preceding_invoice_id": None}


def raise_for_status(response: httpx.Response, *, what: str = "request",
                     message: Callable[[Any], str | None] | None = None, secrets: Iterable[str | None] = (),
                     retriable: Callable[[httpx.Response, str], RetriableSinkError | None] | None = None) -> None:
    """Map an HTTP error response onto the sink error tree, keeping the platform's own message.

    Args:
        response: the platform's answer (nothing happens below 400).
        what: the call, for the error text (no secrets in it).
        message: optional hook that extracts the platform's message from the parsed body (JSON,
            else the text); when it fails or finds none, the body's first 500 characters are kept.
        secrets: values that must never appear in the error (platforms may echo credentials).
        retriable: optional hook for throttling the status alone does not show (NetSuite's 400
            ``SSS_REQUEST_LIMIT_EXCEEDED``, Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``): called with
            the response and *what*, returns the `RetriableSinkError` to raise, or ``None``.

    Raises:
        RetriableSinkError: 408, 429 and 5xx (``retry_after`` from ``Retry-After``), or what *retriable* says.
        AuthError: 401, 403.
        InvoiceRejected: other 4xx.
    """
    status = response.status_code
    if status < 400:
        return
    if retriable is not None:
        throttled = retriable(response, what)
        if throttled is not None:
            raise RetriableSinkError(_scrub(str(throttled), secrets), retry_after=throttled.retry_after)
    text = _platform_message(response, message) if message is not None else None
    text = _scrub(f"{what}: HTTP {status}: {text or response.text[:500]}", secrets)
    if status == 429 or status >= 500 or status == 408:
        raise RetriableSinkError(text, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    if status in (401, 403):
        raise AuthError(text)
    raise InvoiceRejected(text)


def _platform_message(response: httpx.Response, message: Callable[[Any], str | None]) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    try:
        text = message(body)
    except Exception:  # noqa: BLE001 - not the documented shape: keep the raw body instead
        return None
    return str(text)[:500] if text else None


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    """*text* with every secret value (4+ characters) replaced by ``***``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text
