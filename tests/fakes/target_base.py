"""Base of the stand-ins for target systems: a stateful HTTP server on loopback, in a thread.

A subclass implements ``handle(req) -> Reply`` the way the platform documents it
(checking the body it receives against the platform's published shape and
answering with the platform's own success and error bodies). The base records
requests, injects failures (``fail(status, times, retry_after)``, ``hang(seconds, times)``)
and can go down and come back (``down()`` / ``up()``).

Every ``tests/fakes/targets/<target>.py`` defines ``make_fake() -> FakeTarget``;
the sink contract test finds it by the target's name.

``booked`` is what the fake platform's books now say, in the platform's own arithmetic:
for every invoice and credit note it accepted, keyed by the platform's id (the sink's
``external_id``), a `Booked` with the tax-inclusive total and the tax the platform computed
from what it received (tax lines booked as revenue do not count as tax), and, for a credit
note, the platform id of the invoice it is linked or allocated to. The contract test compares
these with our register to the cent.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FakeTarget", "Req", "Reply", "Booked"]


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Booked:
    """A document as the fake platform booked it (see the module docstring)."""

    kind: str  # "invoice" | "credit_note"
    total: Decimal  # tax inclusive, as the platform computes it from the request
    tax: Decimal  # booked as tax (not as a revenue line), as the platform computes it
    linked_to: str | None = None  # credit notes: the platform's id of the invoice it corrects


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class FakeTarget:
    """Subclass and implement `handle`; `created` holds what the fake platform stored."""

    target: str = ""

    def __init__(self) -> None:
        self.requests: list[Req] = []
        self.created: dict[str, Any] = {}
        self.booked: dict[str, Booked] = {}
        self.lock = threading.Lock()
        self._failures: list[tuple[int, float | None, Any]] = []
        self._hangs: list[float] = []
        self._down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Req(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
                with fake.lock:
                    fake.requests.append(req)
                    if fake._down:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    hang = fake._hangs.pop(0) if fake._hangs else None
                    failure = fake._failures.pop(0) if fake._failures else None
                if hang:
                    time.sleep(hang)
                if failure:
                    status, retry_after, payload = failure
                    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                    reply = Reply(status, payload if payload is not None else fake.error_body(status), headers)
                else:
                    with fake.lock:
                        reply = fake.handle(req)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- to implement -----------------------------------------------------------
    def handle(self, req: Req) -> Reply:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment that points the sink at this fake (base URL, credentials)."""
        prefix = "INVOICING_" + self.target.upper().replace("-", "_") + "_"
        return {prefix + "BASE_URL": self.url}

    def adopt(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """*invoice* as the contract test should send it to this target. Targets that invoice only
        their own orders (Magento) place the order first and return the invoice as billed for it;
        every other target takes the invoice as it is."""
        return invoice

    def error_body(self, status: int) -> Any:
        """The platform's own error body for *status*."""
        return {"error": f"HTTP {status}"}

    # -- controls ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, status: int, times: int = 1, retry_after: float | None = None, body: Any = None) -> None:
        with self.lock:
            self._failures.extend([(status, retry_after, body)] * times)

    def hang(self, seconds: float, times: int = 1) -> None:
        with self.lock:
            self._hangs.extend([seconds] * times)

    def down(self) -> None:
        with self.lock:
            self._down = True

    def up(self) -> None:
        with self.lock:
            self._down = False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
