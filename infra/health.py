"""Liveness and readiness of a process, and the small HTTP server that shows them with its metrics.

``/healthz`` is liveness: the process runs and answers. ``/readyz`` is readiness: every
check of the process passes now (the worker: reference data read, a seller configured, the
broker reachable, ...), else 503 with the failing checks in words. ``/metrics`` is
Prometheus' exposition. Each check is also the gauge ``invoicing_ready{check}`` (1 passing,
0 failing), so an alert can name what is wrong. A request that fails is one log record, never
`socketserver`'s traceback on stderr (a line of its own, which would break ``INVOICING_LOG_FORMAT=json``);
a client gone before its answer (a scrape that timed out) is no error of ours and is not logged.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

__all__ = ["Health", "serve_health", "READY"]

log = logging.getLogger("infra.health")

#: a client that closed its connection before the answer was written
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

READY = Gauge("invoicing_ready", "1 while a readiness check of this process passes, 0 while it fails.", ["check"])


class Health:
    """Named readiness checks; each is ``None`` (passing) or the problem in words."""

    def __init__(self, *checks: str) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str | None] = {}
        for name in checks:
            self.fail(name, "not checked yet")

    def ok(self, check: str) -> None:
        self._set(check, None)

    def fail(self, check: str, problem: str) -> None:
        self._set(check, problem)

    def _set(self, check: str, problem: str | None) -> None:
        with self._lock:
            self._problems[check] = problem
        READY.labels(check).set(0 if problem else 1)

    def problem(self, check: str) -> str | None:
        with self._lock:
            return self._problems.get(check)

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body of ``/readyz``)."""
        with self._lock:
            problems = dict(self._problems)
        failing = {k: v for k, v in problems.items() if v}
        return not failing, {"status": "ready" if not failing else "not ready",
                             "checks": {k: (v or "ok") for k, v in sorted(problems.items())}}


def serve_health(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` from a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b'{"status":"alive"}', "application/json")
            elif path == "/readyz":
                ready, body = health.report()
                self._send(200 if ready else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b'{"error":"not found"}', "application/json")

    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Called inside ``except`` by `socketserver` for a request that raised: one log record, or none for a
        client that went away."""
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        log.warning("the request from %s to /healthz, /readyz or /metrics failed", client_address[0], exc_info=True)
