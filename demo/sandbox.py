"""Platform API stand-ins on a loopback port, in a thread, serving documented response shapes.

Used by the demo (thin events are fetched from it) and by the tests.

Routes are ``"GET /path?sorted=query"`` or ``"POST /path"`` → a JSON-able document,
or a ``(status, document)`` pair. It records every request, and can fail the next
*n* requests with a given status to test retries.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["PlatformSandbox", "FakePlatformAPI", "RecordedRequest", "route_key", "Alternatives"]


class Alternatives(list):  # type: ignore[type-arg]
    """Several documents for one route (e.g. a POST read of different ids): the one that
    shares the most identifiers with the request body is served."""

    def pick(self, body: bytes) -> Any:
        tokens = {t for t in re.findall(rb"[A-Za-z0-9_-]{3,}", body) if any(c in b"0123456789" for c in t)}
        def score(doc: Any) -> int:
            text = json.dumps(doc, default=str).encode()
            return sum(1 for t in tokens if t in text)
        return max(self, key=score)


def route_key(method: str, raw_path: str) -> str:
    parts = urlsplit(raw_path)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{method} {parts.path}" + (f"?{query}" if query else "")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PlatformSandbox:
    routes: Mapping[str, Any] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                api.requests.append(RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if api.fail_next > 0:
                    api.fail_next -= 1
                    self._send(api.fail_status, {"error": "temporarily unavailable"})
                    return
                key = route_key(self.command, self.path)
                doc = api.routes.get(key)
                if doc is None:
                    doc = api.routes.get(key.split("?", 1)[0])
                if doc is None:
                    self._send(404, {"error": f"no route {key}"})
                    return
                if isinstance(doc, Alternatives):
                    doc = doc.pick(body)
                status, payload = doc if isinstance(doc, tuple) else (200, doc)
                self._send(status, payload)

            def _send(self, status: int, payload: Any) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "PlatformSandbox":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


#: the name the tests use
FakePlatformAPI = PlatformSandbox
