"""A stateful fake of Wave's public GraphQL API (``business.invoices``) on a loopback port.

It filters on ``modifiedAtAfter`` (strictly after, the stricter reading), sorts by
``modifiedAt`` then id, and pages with ``page``/``pageSize``, like the real API's
``sort: [MODIFIED_AT_ASC]``. Invoices can be added or changed while it runs.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeWaveAPI"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeWaveAPI:
    def __init__(self, business_id: str, token: str) -> None:
        self.business_id = business_id
        self.token = token
        self.invoices: dict[str, dict[str, Any]] = {}
        self.queries: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                if api.fail_next > 0:
                    api.fail_next -= 1
                    return self._send(503, {"errors": [{"message": "Service unavailable"}]})
                if self.headers.get("authorization") != f"Bearer {api.token}":
                    return self._send(401, {"errors": [{"message": "Unauthorized"}]})
                self._send(200, api.answer(body))

            def _send(self, status: int, doc: Any) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def put(self, node: dict[str, Any]) -> None:
        with self.lock:
            self.invoices[node["id"]] = node

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        v = body["variables"]
        self.queries.append(v)
        if v["businessId"] != self.business_id or "business(id: $businessId)" not in body["query"]:
            return {"data": {"business": None}, "errors": [{"message": "Business not found"}]}
        with self.lock:
            nodes = sorted(self.invoices.values(), key=lambda n: (_ts(n["modifiedAt"]), n["id"]))
        if v.get("modifiedAtAfter"):
            after = _ts(v["modifiedAtAfter"])
            nodes = [n for n in nodes if _ts(n["modifiedAt"]) > after]
        size, page = int(v["pageSize"]), int(v["page"])
        pages = max(1, -(-len(nodes) // size))
        chunk = nodes[(page - 1) * size: page * size]
        return {"data": {"business": {"id": self.business_id, "invoices": {
            "pageInfo": {"currentPage": page, "totalPages": pages, "totalCount": len(nodes)},
            "edges": [{"node": n} for n in chunk]}}}}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/graphql/public"

    def __enter__(self) -> "FakeWaveAPI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
