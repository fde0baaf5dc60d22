"""A real SMTP server on loopback (aiosmtpd in its own thread) that keeps what it receives.

``fail(reply, times)`` makes the next RCPT commands answer *reply* (``"421 ..."``, ``"550 ..."``);
``tls_files(dir)`` makes a self-signed certificate for 127.0.0.1 / localhost with `cryptography`.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from infra.broker import free_port

__all__ = ["Inbox", "start_server", "tls_files"]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._fail: list[str] = []
        self.logins: list[str] = []

    def fail(self, reply: str, times: int = 1) -> None:
        self._fail += [reply] * times

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self._fail:
            return self._fail.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 2.0.0 queued"


def start_server(inbox: Inbox, *, tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None) -> Controller:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and users is not None:
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if users.get(login) == password:
                inbox.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if users is not None:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


def tls_files(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
