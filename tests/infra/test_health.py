"""The health server (infra.health.serve_health): a request that fails is one log record, never socketserver's
traceback on stderr, whose lines would break INVOICING_LOG_FORMAT=json; a client gone before its answer (a
Prometheus scrape that timed out) is not logged at all."""
from __future__ import annotations

import logging
import socket
import struct
import time
from typing import Any

import httpx
import pytest

from infra.broker import free_port
from infra.health import Health, serve_health


class BrokenHealth(Health):
    def report(self) -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("the check itself failed")


def test_a_failing_request_is_one_log_record_and_nothing_on_stderr(caplog: pytest.LogCaptureFixture,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    server = serve_health(BrokenHealth(), "127.0.0.1", port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        with caplog.at_level(logging.WARNING, logger="infra.health"), pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    (record,) = [r for r in caplog.records if r.name == "infra.health"]
    assert "/readyz" in record.getMessage() and record.exc_info and record.exc_info[0] is RuntimeError
    assert "Exception occurred during processing" not in capfd.readouterr().err


def test_a_client_gone_before_its_answer_is_not_an_error(caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    """Clients that reset the connection right after asking (as a scrape that timed out does): socketserver saw
    ConnectionResetError for nearly every one of them and printed its traceback."""
    port = free_port()
    server = serve_health(Health(), "127.0.0.1", port)
    try:
        with caplog.at_level(logging.DEBUG, logger="infra.health"):
            for _ in range(10):
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
                client.close()
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            time.sleep(0.5)  # the handler threads finish
    finally:
        server.shutdown()
        server.server_close()
    assert not [r for r in caplog.records if r.name == "infra.health"]
    assert "Exception occurred during processing" not in capfd.readouterr().err
