"""E-mail sink: the invoice PDF (and the customer's e-invoice) to the buyer over SMTP.

Settings, from ``INVOICING_EMAIL_*``: ``HOST``, ``PORT`` (default 587, or 465 with
``SSL``), ``USERNAME``, ``PASSWORD``, ``STARTTLS`` (default true: required),
``SSL`` (implicit TLS), ``FROM_ADDRESS`` (default: the seller's e-mail),
``FROM_NAME``, ``CA_FILE``, ``VERIFY_TLS``, ``TIMEOUT``.

The recipient is the invoice's ``buyer.email``. Attachments: ``<number>.pdf``, plus,
when the customer's reference data says ``einvoice_format``: ``ubl`` →
``<number>-ubl.xml``, ``cii`` → ``<number>-cii.xml``, ``facturx`` → the PDF attached
is the Factur-X PDF/A-3 with its XML embedded. The sink learns the customer's format
from ``sink.reference`` (the worker's `ReferenceData`); without it, the PDF alone.

Delivery guarantee: at least once. The Message-ID is deterministic
(``<inv-<sha256(invoice id)[:32]>@<sender domain>>``) and the message bytes are the
same on every attempt, so a receiving system can drop duplicates. When the invoice
register is in use (`sinks.register.register_in_use`), every Message-ID handed
to the SMTP server is recorded there and `find_invoice` looks it up, so a replay or
redelivery does not send again; only a crash between the server's 250 and that
record can send a second copy. Without the register, every delivery the
``deliver`` agent has not yet receipted is sent again. Idempotency key: the invoice id.

SMTP replies map onto the error tree: 4xx (and connection errors, timeouts) →
`RetriableSinkError`; 530/534/535/538 → `AuthError`; other 5xx → `InvoiceRejected`.
The password is never in a message or a log line.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Callable, ClassVar, Mapping

import aiosmtplib
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import AuthError, FatalSinkError, InvoiceRejected, RetriableSinkError
from domain.reference import ReferenceData
from domain.settings import PlatformSettings
from sinks.base import InvoiceRef, Sink
from sinks.credentials import Need

__all__ = ["EmailSink", "EmailSettings", "message_id_for", "build_message", "EINVOICE_FORMATS"]

log = logging.getLogger("invoicing.sinks.email")

EINVOICE_FORMATS = ("ubl", "cii", "facturx")
_AUTH_CODES = {530, 534, 535, 538}


class EmailSettings(PlatformSettings):
    host: str | None = Field(None, description="SMTP server.")
    port: int | None = Field(None, ge=1, le=65535, description="Default 587 (465 with ssl).")
    starttls: bool = Field(True, description="Require STARTTLS on a plain connection.")
    ssl: bool = Field(False, description="Implicit TLS from the first byte (port 465).")
    from_address: str | None = Field(None, description="Sender; default the seller's e-mail.")
    from_name: str | None = None
    ca_file: str | None = Field(None, description="CA bundle for the server's certificate.")
    verify_tls: bool = True
    timeout: float = Field(30.0, gt=0)


def message_id_for(invoice_id: str, from_address: str) -> str:
    """The same Message-ID for the same invoice, on every attempt and every worker."""
    domain = from_address.rpartition("@")[2] or "invoicing.invalid"
    return f"<inv-{hashlib.sha256(invoice_id.encode()).hexdigest()[:32]}@{domain}>"


def _render(invoice: Mapping[str, Any], fmt: str | None) -> list[tuple[bytes, str, str, str]]:
    """(bytes, maintype, subtype, filename) of each attachment."""
    from domain import documents

    number = invoice["number"]
    inv = dict(invoice)
    pdf = documents.render_facturx(inv) if fmt == "facturx" else documents.render_pdf(inv)
    out = [(pdf, "application", "pdf", f"{number}.pdf")]
    if fmt == "ubl":
        out.append((documents.render_ubl(inv), "application", "xml", f"{number}-ubl.xml"))
    elif fmt == "cii":
        out.append((documents.render_cii(inv), "application", "xml", f"{number}-cii.xml"))
    return out


def build_message(invoice: Mapping[str, Any], *, sender: str, sender_name: str | None, recipient: str,
                  einvoice_format: str | None) -> EmailMessage:
    """The whole message; byte-identical for the same invoice and settings.

    Raises:
        InvoiceRejected: a header would be invalid, or the documents cannot be rendered.
        FatalSinkError: the document renderer is not installed.
    """
    seller, buyer = invoice["seller"], invoice["buyer"]
    kind = "Credit note" if str(invoice["document_type"]) == "CREDIT_NOTE" else "Invoice"
    try:
        attachments = _render(invoice, einvoice_format)
    except ImportError as exc:
        raise FatalSinkError(f"email: document renderer unavailable ({exc})") from None
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise InvoiceRejected(f"email: documents cannot be rendered: {exc}") from None
    try:
        msg = EmailMessage()
        msg["Message-ID"] = message_id_for(invoice["invoice_id"], sender)
        msg["Date"] = format_datetime(invoice["issued_at"])
        msg["From"] = formataddr((sender_name or seller["name"], sender))
        msg["To"] = formataddr((buyer["name"], recipient))
        msg["Subject"] = f"{kind} {invoice['number']} from {seller['name']}"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Invoice-Number"] = invoice["number"]
        msg.set_content(
            f"Dear {buyer['name']},\n\n"
            f"please find attached {kind.lower()} {invoice['number']} of {invoice['issue_date'].isoformat()}"
            f" for {invoice['currency']} {invoice['total']:.2f}, due on {invoice['due_date'].isoformat()}.\n"
            + (f"The {einvoice_format} e-invoice is attached as well.\n" if einvoice_format else "")
            + f"\nKind regards,\n{seller['name']}\n")
        for data, maintype, subtype, filename in attachments:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    except ValueError as exc:  # CR/LF or other invalid header content
        raise InvoiceRejected(f"email: invalid message header: {exc}") from None
    return msg


class EmailSink(Sink):
    target = "email"
    settings_class = EmailSettings
    uses_http: ClassVar[bool] = False
    requires = (Need("host", "the SMTP server"),)

    #: the worker's reference data (set by the pipeline): which customers want which e-invoice
    reference: ReferenceData | None = None

    @property
    def cfg(self) -> EmailSettings:
        assert isinstance(self.settings, EmailSettings)
        return self.settings

    def einvoice_format(self, invoice: Mapping[str, Any]) -> str | None:
        customer = self.reference.customers.get(invoice["customer_id"]) if self.reference is not None else None
        fmt = customer.einvoice_format if customer is not None else None
        return fmt if fmt in EINVOICE_FORMATS else None

    def _sender(self, invoice: Mapping[str, Any]) -> str:
        sender = self.cfg.from_address or invoice["seller"].get("email")
        if not sender:
            raise FatalSinkError("email: no sender: set INVOICING_EMAIL_FROM_ADDRESS or the seller's e-mail")
        return str(sender)

    async def _register(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a register function; ``None`` when the register is not in use."""
        from sinks.register.engine import open_register, register_in_use

        if not register_in_use(self.pipeline):
            return None
        try:
            return await asyncio.to_thread(lambda: fn(open_register(self.pipeline), *args))
        except SQLAlchemyError as exc:
            from sinks.register.sink import map_db_error

            raise map_db_error(exc, f"email: register {what}") from None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        from sinks.register.store import email_sent

        mid = message_id_for(idempotency_key, self._sender(invoice))
        return InvoiceRef(mid) if await self._register("look-up", email_sent, mid) else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        from sinks.register.store import record_email

        recipient = str((invoice.get("buyer") or {}).get("email") or "").strip()
        if "@" not in recipient or any(c.isspace() for c in recipient):
            raise InvoiceRejected(f"email: invoice {invoice['number']} has no valid buyer e-mail")
        sender = self._sender(invoice)
        msg = await asyncio.to_thread(build_message, invoice, sender=sender, sender_name=self.cfg.from_name,
                                      recipient=recipient, einvoice_format=self.einvoice_format(invoice))
        for part in msg.iter_attachments():
            name = part.get_filename() or ""
            kind = "ubl" if name.endswith("-ubl.xml") else "cii" if name.endswith("-cii.xml") else \
                "facturx" if name.endswith(".pdf") and self.einvoice_format(invoice) == "facturx" else None
            data = part.get_payload(decode=True)
            if kind and isinstance(data, bytes):
                await self.check_einvoice(kind, data, invoice)
        await self._send(msg, sender, recipient)
        mid = str(msg["Message-ID"])
        try:
            await self._register("record", record_email, mid, invoice, recipient)
        except RetriableSinkError as exc:  # the mail is out: never fail (and so resend) because the note failed
            log.warning("email: %s sent but not recorded in the register: %s", invoice["number"], exc)
        return InvoiceRef(mid)

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cfg.ca_file)
        if not self.cfg.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def _send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        cfg = self.cfg
        try:
            await aiosmtplib.send(
                msg, sender=sender, recipients=[recipient], hostname=cfg.host,
                port=cfg.port or (465 if cfg.ssl else 587), use_tls=cfg.ssl,
                start_tls=False if cfg.ssl else cfg.starttls, tls_context=self._tls_context(),
                username=cfg.username, password=cfg.password.get_secret_value() if cfg.password else None,
                timeout=cfg.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(r.code for r in exc.recipients), "recipient refused",
                           "; ".join(r.message for r in exc.recipients)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, type(exc).__name__, exc.message) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise FatalSinkError(f"email: server does not support what is configured: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise FatalSinkError(f"email: TLS certificate of {cfg.host} not trusted: {exc.verify_message}") from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise RetriableSinkError(f"email: {type(exc).__name__}: {exc}") from None


def _by_code(code: int, what: str, message: str) -> FatalSinkError | RetriableSinkError:
    text = f"email: SMTP {code} {what}: {message[:300]}"
    if 400 <= code < 500:
        return RetriableSinkError(text)
    if code in _AUTH_CODES:
        return AuthError(text)
    return InvoiceRejected(text)
