"""The gateway's HTTP server: uvicorn with httptools, with the limits a server on the open internet needs.

* **Request head** (request line and headers): at most ``max_header_bytes``; a larger one is answered
  ``431`` (uvicorn alone answers 400 and closes at once, so the client, still sending, gets a reset).
* **Time to send the head**: ``header_timeout`` seconds from the connection opening or the previous
  response; then ``408`` when part of a head arrived, or a plain close of an idle connection.
* **Time to send the body**: ``body_timeout``, enforced by the app (`sources.ingress.gateway`): ``408`` and the
  connection closed.
* **Keep-alive**: an idle connection is closed after ``keep_alive_timeout`` seconds.
* An answer that closes the connection before the client finished sending (431, 408, 400, and the app's
  413 or 408 for a body) is followed by a *lingering close*: what the client still sends is read and
  dropped (at most 2 s and 4 MiB), so the client reads the answer instead of a connection reset.

Nothing of a refused request is logged here (uvicorn logs one fixed line for an unreadable request).
"""
from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from domain.settings import Settings

__all__ = ["GatewayProtocol", "gateway_config", "gateway_server"]


class GatewayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size answered 431, a head timeout and a lingering close.

    httptools (llhttp) bounds nothing itself, so the head is counted here: the bytes received while a head
    is incomplete, up to its blank line. A pipelined request whose head starts in the same read as the
    previous request's end is counted from the next read on.
    """

    head_limit: ClassVar[int] = 32_768
    head_timeout: ClassVar[float] = 10.0
    linger_seconds: ClassVar[float] = 2.0
    linger_bytes: ClassVar[int] = 4 * 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._lingering = False
        self._dropped = 0
        self._in_head = True  # the next bytes belong to a request head (or nothing has come yet); else to a body
        self._head_bytes = 0  # bytes of the head in progress
        self._tail = b""  # the last bytes of the previous read, for a blank line split between two reads

    # -- a request head must arrive in time ------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(transport, self)))
        self._await_head()

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._lingering or not self._in_head:
            return
        if self._head_bytes:
            self._refuse(408, "the request head was not received in time")
        else:
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._in_head:
            self._await_head()  # the next request on this connection gets its own head timeout

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._dropped += len(data)
            if self._dropped > self.linger_bytes:
                self.transport.close()
            return
        if self._in_head:
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            if self._head_bytes > self.head_limit:
                self._refuse(431, "request header fields too large")
                return
        self._tail = data[-3:]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._cancel_head_timer()  # the head is complete; the app bounds the body
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = True, 0, b""
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # -- refusals the client can read ----------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "invalid HTTP request")

    def _refuse(self, status: int, text: str) -> None:
        """Answer *status* and close the connection after a lingering read."""
        self._cancel_head_timer()
        body = text.encode("ascii") + b"\n"
        reason = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.linger()

    def linger(self) -> None:
        """Stop answering, read and drop what the client still sends, close after `linger_seconds`."""
        if self._lingering:
            return
        self._lingering = True
        transport = cast(_LingeringTransport, self.transport).inner
        try:
            transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):  # TLS transports cannot half-close
            pass
        transport.resume_reading()
        self.loop.call_later(self.linger_seconds, transport.close)

    def still_receiving(self) -> bool:
        """True while the client is in the middle of sending a request (head or body)."""
        return not self._in_head or self._head_bytes > 0


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: a close while the client is still sending a request
    becomes a lingering close (`GatewayProtocol.linger`)."""

    def __init__(self, inner: asyncio.Transport, protocol: GatewayProtocol) -> None:
        self.inner = inner
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.still_receiving() and not self.inner.is_closing():
            self._protocol.linger()
        else:
            self.inner.close()

    def is_closing(self) -> bool:
        return self._protocol._lingering or self.inner.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def gateway_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of the gateway: `GatewayProtocol` with *settings*' limits."""
    protocol = type("GatewayProtocolWithLimits", (GatewayProtocol,), {
        "head_limit": settings.max_header_bytes, "head_timeout": settings.header_timeout})
    return uvicorn.Config(app, host=host, port=port, http=protocol, log_level="warning", access_log=False,
                          lifespan="off", ws="none",  # no WebSocket upgrade on a webhook port
                          timeout_keep_alive=int(max(1, round(settings.keep_alive_timeout))), server_header=False)


def gateway_server(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the gateway app (`serve()` it)."""
    return uvicorn.Server(gateway_config(app, settings, host, port))
