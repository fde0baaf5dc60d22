"""The webhook ingress: ``POST /webhooks/<platform>`` → raw-events topic.

It answers 2xx only after the broker acknowledged the raw event into a topic the worker reads.
A bad signature is 401, a malformed body 400, an oversized body 413, a body that does not arrive
in time 408, an unknown platform 404; none of them writes anything to a topic. While the broker
cannot take events, or has lost the pipeline's topics, every event is answered 503 (see
`RawEventPublisher`); a platform retries it later. ``/healthz`` (liveness), ``/readyz``
(readiness) and ``/metrics`` are served beside the webhooks (``/metrics`` on a loopback port of
its own when ``INVOICING_GATEWAY_METRICS_PORT`` is set). This service is separate from the Faust
worker on purpose (Faust's web server exposes table contents).

Before a request is authenticated, nothing of it is logged but one fixed summary line: platform,
status, size and remote address.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.broker import TopicProbe, epoch_topic, producer as new_producer
from domain.codec import encode
from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError, SignatureError, SourceError
from infra.health import Health, serve_health
from domain.jsonlog import add_log_context, start_log_context
from domain.logsafe import printable
from domain.metrics import WEBHOOK_LATENCY, WEBHOOKS
from domain.settings import MAX_EVENT_ID_BYTES, Settings
from domain.topics import Topics
from sources.records import raw_event_record
from sources.base import EventInfo, InboundRequest, Reply, Source
from sources.registry import SOURCES

__all__ = ["create_gateway", "RawEventPublisher", "NotReady", "serve_gateway"]

log = logging.getLogger("sources.ingress.gateway")

#: how long a platform is asked to wait before retrying an event answered 503
RETRY_AFTER_SECONDS = 10

#: the publisher's producer batch, in bytes: every webhook waiting for its acknowledgement rides in the next
#: produce request (aiokafka has one request in flight per broker; with its default 16 KiB batch, a few raw
#: events fill the batch and every further webhook waits for the drain, in a request of its own)
PRODUCER_BATCH_BYTES = 1_048_576


class BodyTooLarge(Exception):
    pass


class NotReady(Exception):
    """The gateway cannot take events now (broker unreachable, topics lost, producer failing)."""


class RawEventPublisher:
    """Publishes raw events, waits for the broker's acknowledgement (acks=all), and knows whether it can.

    Readiness (``health``): ``broker`` answers metadata requests; ``topics``: the raw-events topic and
    the epoch marker exist (`infra.broker`: a broker that lost them would acknowledge records into
    nothing, or into a topic nobody reads); ``producer``: the last event was acknowledged. A background
    check runs every ``broker_check_interval`` seconds, and once more after each acknowledgement (checks
    running at the same time are shared), so an event is answered 2xx only when its topic still existed
    after the broker took it. A producer that failed is replaced once the broker and topics are back.
    """

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.topic = Topics.from_settings(settings).raw
        self.marker = epoch_topic(settings)
        self.health = Health("broker", "topics", "producer")
        self.producer = self._new_producer()
        self._probe = TopicProbe(bootstrap)
        self._watcher: asyncio.Task[None] | None = None
        self._check: asyncio.Task[bool] | None = None
        self._check_started = 0.0

    def _new_producer(self) -> AIOKafkaProducer:
        return new_producer(self.settings, self.bootstrap, linger_ms=0, request_timeout_ms=10_000,
                            max_batch_size=min(PRODUCER_BATCH_BYTES, self.settings.max_message_bytes))

    async def start(self) -> None:
        await self.producer.start()
        self.health.ok("producer")
        await self.checked_after(time.monotonic())
        self._watcher = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.producer.stop()
        await self._probe.close()

    @property
    def ready(self) -> bool:
        return self.health.report()[0]

    def problems(self) -> str:
        checks = self.health.report()[1]["checks"]
        return "; ".join(f"{name}: {state}" for name, state in checks.items() if state != "ok")

    async def _check_now(self) -> bool:
        try:
            found = await self._probe.partitions([self.topic, self.marker])
        except Exception as exc:  # noqa: BLE001 - whatever the client raised, the broker cannot be vouched for
            self.health.fail("broker", f"the broker at {self.bootstrap} does not answer ({type(exc).__name__})")
            return False
        self.health.ok("broker")
        missing = [name for name in (self.topic, self.marker) if not found[name]]
        if missing:
            self.health.fail("topics", f"the broker lacks {', '.join(missing)}: events would not be processed, so "
                                       "they are refused (503) until the worker or `ensure_topics` creates them")
            return False
        self.health.ok("topics")
        return True

    async def checked_after(self, moment: float) -> bool:
        """The result of a check that started at or after *moment* (``time.monotonic()``)."""
        while True:
            running = self._check
            if running is not None and not running.done() and self._check_started < moment:
                await asyncio.wait([running])  # started too early to vouch for *moment*: wait, then start anew
                continue
            if running is None or (running.done() and self._check_started < moment):
                self._check_started = time.monotonic()
                running = self._check = asyncio.ensure_future(self._check_now())
            return await asyncio.shield(running)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.broker_check_interval)
            if await self.checked_after(time.monotonic()) and self.health.problem("producer"):
                old, self.producer = self.producer, self._new_producer()
                try:
                    await self.producer.start()
                    self.health.ok("producer")
                except (KafkaError, OSError) as exc:
                    self.health.fail("producer", f"a new producer could not start ({type(exc).__name__})")
                await asyncio.gather(old.stop(), return_exceptions=True)

    async def publish(self, key: bytes, value: bytes) -> None:
        """Publish one raw event; return once it is safely on a topic the worker reads.

        Raises:
            NotReady: the gateway cannot take events now (nothing was published, or the broker lost it).
            KafkaError, OSError: the broker did not acknowledge it.
        """
        if not self.ready:
            raise NotReady(self.problems())
        try:
            await self.producer.send_and_wait(self.topic, value, key=key)
        except MessageSizeTooLargeError:
            raise
        except (KafkaError, OSError) as exc:
            self.health.fail("producer", f"the broker did not acknowledge the last event ({type(exc).__name__})")
            asyncio.ensure_future(self.checked_after(time.monotonic()))
            raise
        if not await self.checked_after(time.monotonic()):
            raise NotReady(self.problems())


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


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


WEBHOOK_METHODS = ("POST", "GET", "HEAD")  # GET and HEAD: the handshakes some platforms make


def webhook_platform(path: str) -> str | None:
    """The platform of a webhook path (``/webhooks/<platform>``, one trailing slash allowed), else None."""
    if not path.startswith("/webhooks/"):
        return None
    rest = path[10:-1] if path.endswith("/") else path[10:]
    return rest if rest and "/" not in rest else None


class _Gateway:
    """The gateway's ASGI app: webhooks go straight to their handler; everything else (health, readiness,
    metrics, a webhook path with another method) to the Starlette app. Starlette's middleware and routing around
    each webhook took about a tenth of the gateway's time (py-spy)."""

    def __init__(self, webhook: Callable[[Request, str], Awaitable[Response]], app: Starlette) -> None:
        self.webhook = webhook
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WEBHOOK_METHODS:
            platform = webhook_platform(scope["path"])
            if platform is not None:
                response = await self.webhook(Request(scope, receive), platform)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_gateway(settings: Settings, publisher: Any, sources: Mapping[str, Source] | None = None) -> ASGIApp:
    """Build the ASGI app. *publisher* has ``async publish(key, value)`` (a `RawEventPublisher`, whose
    ``health`` is the gateway's readiness; a publisher without one is taken as always ready)."""
    active: dict[str, Source] = dict(sources) if sources is not None else {name: cls() for name, cls in SOURCES.items()}
    limit = settings.max_body_bytes
    health: Health = getattr(publisher, "health", None) or Health()

    def summary(platform: str, status: int, size: int, request: Request, level: int = logging.INFO) -> None:
        """The one line logged about a request that was not accepted: nothing the client chose but its size."""
        remote = request.client.host if request.client else "-"
        log.log(level, "webhook %s answered %d: %d bytes from %s", platform, status, size, printable(remote, 64))

    async def webhook(request: Request, platform: str) -> Response:
        started = time.perf_counter()
        start_log_context(platform=platform if platform in active else "unknown")  # this request's log lines
        source = active.get(platform)
        if source is None:
            WEBHOOKS.labels("unknown", "404").inc()
            summary("unknown", 404, 0, request)
            return _error(404, "unknown platform")
        response, size = await _handle(platform, source, request)
        WEBHOOKS.labels(platform, str(response.status_code)).inc()
        WEBHOOK_LATENCY.labels(platform).observe(time.perf_counter() - started)
        if response.status_code >= 300:
            summary(platform, response.status_code, size, request,
                    logging.WARNING if response.status_code >= 500 else logging.INFO)
        return response

    async def _handle(platform: str, source: Source, request: Request) -> tuple[Response, int]:
        try:
            async with asyncio.timeout(settings.body_timeout):
                body = await _read_body(request, limit)
        except BodyTooLarge:
            return _error(413, f"body larger than {limit} bytes", connection="close"), limit + 1
        except TimeoutError:
            return _error(408, f"the body did not arrive within {settings.body_timeout:g} s", connection="close"), 0
        except ClientDisconnect:
            return Response(status_code=400), 0
        size = len(body)
        inbound = InboundRequest(
            method=request.method, path=request.url.path, query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()}, body=body, url=str(request.url),
        )
        try:
            handshake = source.challenge(inbound)
            if handshake is not None:
                return _reply(handshake), size
            if request.method != "POST":
                return _error(405, "method not allowed"), size
            if source.blocking_verify:
                await asyncio.to_thread(source.verify, inbound)
            else:
                source.verify(inbound)
        except SignatureError:
            return _error(401, "signature verification failed"), size
        except (FetchError, ConfigError) as exc:  # a key server or our configuration failed: our outage
            log.error("%s webhook could not be verified: %s", platform, printable(exc, 300))
            return _error(503, "signature could not be verified now, retry later",
                          **{"retry-after": str(RETRY_AFTER_SECONDS)}), size
        except (PayloadError, SourceError, ValueError, TypeError, KeyError, AttributeError, IndexError,
                RecursionError, UnicodeError):
            # a request our reading of its handshake or credentials could not cope with: not authentic
            return _error(401, "signature verification failed"), size
        # authenticated from here on
        try:
            info = source.describe(inbound)
            check_event_ids(info)
            add_log_context(event_id=printable(info.event_id, 100))
        except IgnoredEvent as exc:
            return JSONResponse({"status": "ignored", "reason": str(exc)}, status_code=200), size
        except (PayloadError, SourceError) as exc:
            log.info("%s event refused as malformed: %s", platform, printable(exc, 300))
            return _error(400, f"malformed {platform} event: {exc}"), size
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, UnicodeError) as exc:
            log.warning("%s event refused, its reader failed (%s)", platform, type(exc).__name__)
            return _error(400, f"malformed {platform} event: it could not be read"), size
        record = raw_event_record(platform, info, inbound, source)
        if len(record["url"].encode()) > 2 * settings.max_header_bytes:
            return _error(414, "request URL too long"), size
        key = f"{platform}:{info.event_id}".encode()
        value = encode("raw_event", record)
        if len(key) + len(value) > settings.max_raw_event_bytes:  # cannot happen: the limits above bound it
            log.error("%s raw event of %d bytes exceeds the derived limit of %d bytes", platform,
                      len(key) + len(value), settings.max_raw_event_bytes)
            return _error(413, "event too large"), size
        if not health.report()[0]:
            return _error(503, "not ready to take events, retry later", **{"retry-after": str(RETRY_AFTER_SECONDS)}), size
        try:
            await publisher.publish(key, value)
        except NotReady:
            return _error(503, "not ready to take events, retry later", **{"retry-after": str(RETRY_AFTER_SECONDS)}), size
        except MessageSizeTooLargeError:
            log.error("%s raw event of %d bytes refused by the producer (max %d)", platform, len(key) + len(value),
                      settings.max_message_bytes)
            return _error(413, "event too large"), size
        except (KafkaError, OSError) as exc:
            log.error("broker did not accept %s event %s: %s", platform, printable(info.event_id, 100),
                      type(exc).__name__)
            return _error(503, "broker unavailable, retry later", **{"retry-after": str(RETRY_AFTER_SECONDS)}), size
        log.info("%s event accepted", platform)
        return _reply(source.acknowledge(inbound, info)), size

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        ready, body = health.report()
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def routed_webhook(request: Request) -> Response:  # a path only Starlette's pattern takes (its `$` admits
        # a final newline: /webhooks/x/%0A); the same handler
        return await webhook(request, request.path_params["platform"])

    routes = [  # the webhook routes answer 405 to other methods (and give the Allow header)
        Route("/webhooks/{platform}", routed_webhook, methods=list(WEBHOOK_METHODS)),
        Route("/webhooks/{platform}/", routed_webhook, methods=list(WEBHOOK_METHODS)),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if not settings.gateway_metrics_port:
        routes.append(Route("/metrics", metrics, methods=["GET"]))
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False  # a redirect would be built from the client's Host header
    return _Gateway(webhook, app)


def check_event_ids(info: EventInfo) -> None:
    """Refuse an event id or type longer than `MAX_EVENT_ID_BYTES` (they bound the raw event's size).

    Raises:
        PayloadError: too long.
    """
    for what, value in (("event id", info.event_id), ("event type", info.event_type)):
        if len(value.encode("utf-8", "replace")) > MAX_EVENT_ID_BYTES:
            raise PayloadError(f"{what} longer than {MAX_EVENT_ID_BYTES} bytes")


async def serve_gateway(settings: Settings, bootstrap: str, host: str, port: int) -> None:
    """Run the gateway until cancelled."""
    from sources.ingress.server import gateway_server

    publisher = RawEventPublisher(settings, bootstrap)
    await publisher.start()
    health_server = None
    try:
        if settings.gateway_metrics_port:
            health_server = serve_health(publisher.health, settings.metrics_host, settings.gateway_metrics_port)
        app = create_gateway(settings, publisher)
        await gateway_server(app, settings, host, port).serve()
    finally:
        if health_server is not None:
            health_server.shutdown()
        await publisher.stop()
