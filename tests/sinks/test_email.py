"""The e-mail sink against a real SMTP server on loopback (aiosmtpd)."""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from pydantic import SecretStr

from domain.documents import render_pdf, render_ubl
from domain.errors import AuthError, FatalSinkError, InvoiceRejected, RetriableSinkError
from domain.reference import Customer, ReferenceData
from sinks.register import open_register, row_counts
from domain.settings import Settings
from sinks.delivery import deliver
from sinks.email import EmailSettings, EmailSink, message_id_for
from tests.fakes.smtp_server import Inbox, start_server, tls_files
from tests.support import sample_invoice

SENDER = "billing@kompressor.example"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    controller = start_server(box)
    try:
        yield box, controller.port
    finally:
        controller.stop()


def pipeline(**extra: Any) -> Settings:
    values: dict[str, Any] = dict(sink_backoff_base=0.01, sink_backoff_max=0.05, sink_max_attempts=3,
                                  register_receipts=False)
    values.update(extra)
    return Settings(**values)


def make_sink(port: int, settings: Settings | None = None, fmt: str | None = None, customer_id: str = "",
              **cfg: Any) -> EmailSink:
    values: dict[str, Any] = dict(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=5)
    values.update(cfg)
    sink = EmailSink(EmailSettings(**values), httpx.AsyncClient(), settings or pipeline())
    ref = ReferenceData()
    ref.customers[customer_id] = Customer(customer_id=customer_id, name="Dubois", address={}, einvoice_format=fmt)
    sink.reference = ref
    return sink


def attachments(msg: Any) -> dict[str, tuple[str, bytes]]:
    return {part.get_filename(): (part.get_content_type(), part.get_payload(decode=True)) for part in msg.iter_attachments()}


async def test_pdf_to_the_buyer(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    inv = sample_invoice(21, targets=("email",))
    sink = make_sink(port)
    result = await deliver(sink, inv, sink.pipeline)
    await sink.close()
    assert result.status == "DELIVERED", result.detail
    assert result.external_id == message_id_for(inv["invoice_id"], SENDER)
    assert box.envelopes == [(SENDER, [inv["buyer"]["email"]])]
    msg = box.messages[0]
    assert msg["Message-ID"] == result.external_id and inv["number"] in msg["Subject"]
    assert str(msg["To"]) == f"{inv['buyer']['name']} <{inv['buyer']['email']}>"
    files = attachments(msg)
    assert files == {f"{inv['number']}.pdf": ("application/pdf", render_pdf(inv))}
    assert f"{inv['total']:.2f}" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_einvoice_customer_gets_the_xml_and_is_not_mailed_twice(inbox: tuple[Inbox, int],
                                                                        register_settings: Settings) -> None:
    box, port = inbox
    settings = register_settings.model_copy(update={"register_receipts": True, "sink_backoff_base": 0.01,
                                                    "sink_backoff_max": 0.05})
    inv = sample_invoice(22, targets=("email",))
    sink = make_sink(port, settings, fmt="ubl", customer_id=inv["customer_id"])
    first = await deliver(sink, inv, settings)
    second = await deliver(sink, inv, settings)
    restarted = make_sink(port, settings, fmt="ubl", customer_id=inv["customer_id"])
    third = await deliver(restarted, inv, settings)
    await sink.close()
    await restarted.close()
    assert (first.status, second.status, third.status) == ("DELIVERED", "ALREADY_PRESENT", "ALREADY_PRESENT")
    assert len(box.messages) == 1
    files = attachments(box.messages[0])
    assert files[f"{inv['number']}.pdf"] == ("application/pdf", render_pdf(inv))
    assert files[f"{inv['number']}-ubl.xml"] == ("application/xml", render_ubl(inv))
    engine = open_register(settings)
    assert row_counts(engine)["email_messages"] == 1


async def test_facturx_customer_gets_the_hybrid_pdf(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    inv = sample_invoice(23, targets=("email",))
    sink = make_sink(port, fmt="facturx", customer_id=inv["customer_id"])
    await sink.create_invoice(inv, inv["invoice_id"])
    await sink.close()
    (name, (ctype, data)), = attachments(box.messages[0]).items()
    assert (name, ctype) == (f"{inv['number']}.pdf", "application/pdf")
    facturx = pytest.importorskip("facturx")
    xml_name, xml = facturx.get_xml_from_pdf(data, check_xsd=False)
    assert xml_name == "factur-x.xml" and inv["number"].encode() in xml


async def test_421_is_retried_then_delivered(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    inv = sample_invoice(24, targets=("email",))
    sink = make_sink(port)
    box.fail("421 4.3.2 service not available, try later")
    with pytest.raises(RetriableSinkError, match="421"):
        await sink.create_invoice(inv, inv["invoice_id"])
    box.fail("451 4.3.0 temporary failure")
    result = await deliver(sink, inv, sink.pipeline)
    await sink.close()
    assert (result.status, result.attempts) == ("DELIVERED", 2)
    assert len(box.messages) == 1


async def test_550_is_rejected_and_parked(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    inv = sample_invoice(25, targets=("email",))
    sink = make_sink(port)
    box.fail("550 5.1.1 mailbox unavailable", times=5)
    with pytest.raises(InvoiceRejected, match="550"):
        await sink.create_invoice(inv, inv["invoice_id"])
    result = await deliver(sink, inv, sink.pipeline)
    await sink.close()
    assert (result.status, result.attempts, result.retriable) == ("PARKED", 1, False)
    assert not box.messages


async def test_no_server_is_retriable_and_no_buyer_email_is_rejected() -> None:
    from infra.broker import free_port

    inv = sample_invoice(26, targets=("email",))
    sink = make_sink(free_port())
    with pytest.raises(RetriableSinkError):
        await sink.create_invoice(inv, inv["invoice_id"])
    no_mail = dict(inv, buyer=dict(inv["buyer"], email=None))
    with pytest.raises(InvoiceRejected):
        await sink.create_invoice(no_mail, inv["invoice_id"])
    await sink.close()


async def test_starttls_with_auth(tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    box = Inbox()
    controller = start_server(box, tls=server_ctx, users={"billing": "s3cret-pw"})
    inv = sample_invoice(27, targets=("email",))
    try:
        good = make_sink(controller.port, starttls=True, ca_file=str(cert), username="billing",
                         password=SecretStr("s3cret-pw"))
        result = await deliver(good, inv, good.pipeline)
        await good.close()
        assert result.status == "DELIVERED", result.detail
        assert box.logins == ["billing"] and len(box.messages) == 1

        bad = make_sink(controller.port, starttls=True, ca_file=str(cert), username="billing",
                        password=SecretStr("wrong-pw-123"))
        with pytest.raises(AuthError) as caught:
            await bad.create_invoice(inv, inv["invoice_id"])
        assert "wrong-pw-123" not in str(caught.value)
        await bad.close()

        untrusted = make_sink(controller.port, starttls=True, username="billing", password=SecretStr("s3cret-pw"))
        with pytest.raises(FatalSinkError, match="not trusted"):
            await untrusted.create_invoice(inv, inv["invoice_id"])
        await untrusted.close()
        assert len(box.messages) == 1
    finally:
        controller.stop()
