"""The webhook ingress: ``POST /webhooks/<platform>`` → raw-events topic.

It answers 2xx only after the broker acknowledged the raw event. A bad
signature is 401, a malformed body 400, an oversized body 413, an unknown
platform 404; none of them writes anything to a topic. ``/healthz`` and
``/metrics`` are served beside the webhooks. This service is separate from the
Faust worker on purpose (Faust's web server exposes table contents).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from invoicing.codec import encode
from invoicing.errors import IgnoredEvent, PayloadError, SignatureError, SourceError
from invoicing.metrics import WEBHOOK_LATENCY, WEBHOOKS
from invoicing.settings import Settings
from invoicing.topics import Topics
from sources.base import EventInfo, InboundRequest, Reply, Source
from sources.registry import SOURCES

__all__ = ["create_gateway", "RawEventPublisher"]

log = logging.getLogger("invoicing.gateway")

#: headers never copied onto a topic, whatever a source asks for
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "x-invoicing-token",
                             "x-trusted-context"})
#: query parameters that carry shared-secret tokens; their values never reach a topic
_SECRET_PARAMS = frozenset({"token", "code", "key", "secret", "api_key", "apikey", "access_token", "sig"})


def redact_url(url: str) -> str:
    """The URL with the values of secret query parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


class BodyTooLarge(Exception):
    pass


class RawEventPublisher:
    """Publishes raw events and waits for the broker's acknowledgement (acks=all)."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.topic = Topics.from_settings(settings).raw
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                         enable_idempotence=False, request_timeout_ms=10_000)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, key: bytes, value: bytes) -> None:
        await self.producer.send_and_wait(self.topic, value, key=key)


def _reply(r: Reply) -> Response:
    return Response(r.body, status_code=r.status, media_type=r.content_type or None, headers=dict(r.headers))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    stream: AsyncIterator[bytes] = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def raw_event_record(platform: str, info: EventInfo, inbound: InboundRequest, source: Source) -> dict[str, Any]:
    wanted = set(source.keep_headers) | set(h.lower() for h in info.keep_headers) | {"content-type"}
    headers = {k: v for k, v in inbound.headers.items() if k in wanted and k not in _SECRET_HEADERS}
    return {
        "platform": platform,
        "event_type": info.event_type,
        "event_id": info.event_id,
        "received_at": datetime.now(timezone.utc),
        "method": inbound.method,
        "url": redact_url(inbound.url),
        "content_type": inbound.headers.get("content-type", ""),
        "headers": headers,
        "body": inbound.body,
        "attempt": 0,
    }


def create_gateway(settings: Settings, publisher: Any, sources: Mapping[str, Source] | None = None) -> Starlette:
    """Build the ASGI app. *publisher* has ``async publish(key, value)`` (a `RawEventPublisher`)."""
    active: dict[str, Source] = dict(sources) if sources is not None else {name: cls() for name, cls in SOURCES.items()}
    limit = settings.max_body_bytes

    async def webhook(request: Request) -> Response:
        platform = request.path_params["platform"]
        started = time.perf_counter()
        source = active.get(platform)
        if source is None:
            WEBHOOKS.labels("unknown", "404").inc()
            return JSONResponse({"error": f"unknown platform {platform!r}"}, status_code=404)
        response = await _handle(platform, source, request)
        WEBHOOKS.labels(platform, str(response.status_code)).inc()
        WEBHOOK_LATENCY.labels(platform).observe(time.perf_counter() - started)
        return response

    async def _handle(platform: str, source: Source, request: Request) -> Response:
        try:
            body = await _read_body(request, limit)
        except BodyTooLarge:
            return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
        inbound = InboundRequest(
            method=request.method, path=request.url.path, query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()}, body=body, url=str(request.url),
        )
        try:
            handshake = source.challenge(inbound)
            if handshake is not None:
                return _reply(handshake)
            if request.method != "POST":
                return JSONResponse({"error": "method not allowed"}, status_code=405)
            if source.blocking_verify:
                await asyncio.to_thread(source.verify, inbound)
            else:
                source.verify(inbound)
        except SignatureError as exc:
            log.info("rejected %s webhook: %s", platform, exc)
            return JSONResponse({"error": "signature verification failed"}, status_code=401)
        try:
            info = source.describe(inbound)
        except IgnoredEvent as exc:
            return JSONResponse({"status": "ignored", "reason": str(exc)}, status_code=200)
        except (PayloadError, SourceError) as exc:
            return JSONResponse({"error": f"malformed {platform} event: {exc}"}, status_code=400)
        record = raw_event_record(platform, info, inbound, source)
        try:
            await publisher.publish(f"{platform}:{info.event_id}".encode(), encode("raw_event", record))
        except (KafkaError, OSError) as exc:
            log.error("broker did not accept %s event %s: %s", platform, info.event_id, exc)
            return JSONResponse({"error": "broker unavailable, retry later"}, status_code=503)
        return _reply(source.acknowledge(inbound, info))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "platforms": sorted(active)})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/webhooks/{platform}", webhook, methods=["POST", "GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])


async def serve_gateway(settings: Settings, bootstrap: str, host: str, port: int) -> None:
    """Run the gateway until cancelled."""
    import uvicorn

    publisher = RawEventPublisher(settings, bootstrap)
    await publisher.start()
    try:
        app = create_gateway(settings, publisher)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        await uvicorn.Server(config).serve()
    finally:
        await publisher.stop()
