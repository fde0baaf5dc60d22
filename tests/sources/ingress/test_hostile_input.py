"""Hostile input at the gateway, for every platform (issue #17).

One gateway serving all 22 platforms runs on the session broker with the production server
(`sources.ingress.server`) and short time limits. Every platform gets: bodies nested 30,000 levels
deep (JSON arrays, JSON objects, XML), signed and unsigned; bodies just under and just over the size
limit; requests built to forge log lines; a 1 MiB header and 300 headers of 1 KiB; clients that
trickle their head or body. The status codes are asserted, and that nothing reached the raw-events
topic and nothing of an unauthenticated request reached a log line.
"""
from __future__ import annotations

import ast
import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from infra.broker import TopicProbe, ensure_topics, free_port
from domain.codec import decode
from domain.logsafe import LOG_FORMAT, SafeFormatter
from demo.samples import SAMPLES, settings_env
from domain.settings import PlatformSettings, Settings, platform_settings
from sources.registry import SOURCES
from sources.support.payload import MAX_JSON_DEPTH, parse_json
from tests.support import REPO, read_topic, running_gateway, topic_size, unique_settings

PLATFORMS = sorted(SOURCES)
SECRET = "hostile-secret-0123456789abcdef-32b"
MARKER = "FORGED-LOG-LINE"
LIMIT = 64 * 1024
TIME_LIMIT = 1.5  # header and body timeouts of the gateway under test
FORGED = f"ok\nCRITICAL sources.ingress.gateway: {MARKER}\r\nINFO x: y"


@dataclass
class Gateway:
    settings: Settings
    base: str
    bootstrap: str

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    async def raw_events(self) -> int:
        return await topic_size(self.bootstrap, self.settings.topic("invoicing.raw-events"))


def _sources(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for platform in PLATFORMS:
        for key, value in settings_env(platform, SECRET).items():
            monkeypatch.setenv(key, value)
    return {p: cls(platform_settings(p, cls.settings_class)) for p, cls in SOURCES.items()}


@pytest.fixture(scope="module")
async def gateway(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """One gateway for every platform, its topics on the session broker, 64 KiB bodies, 1.5 s time limits."""
    with pytest.MonkeyPatch.context() as mp:
        sources = _sources(mp)
    settings = unique_settings(tmp_path_factory.mktemp("hostile"), max_body_bytes=LIMIT, header_timeout=TIME_LIMIT,
                               body_timeout=TIME_LIMIT, keep_alive_timeout=1.0)
    await ensure_topics(settings, bootstrap)
    async with running_gateway(settings, bootstrap, sources) as base:
        yield Gateway(settings, base, bootstrap)


async def send(base: str, req: Any, **extra_headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        return await client.request(req.method, req.path + (f"?{req.query}" if req.query else ""), content=req.body,
                                    headers={**dict(req.headers), **extra_headers})


async def post(base: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        return await client.post(path, content=body, headers=headers)


def signed(platform: str, body: bytes) -> Any:
    return SAMPLES[platform].signed(body, SECRET, datetime.now(timezone.utc))


def sample(platform: str, n: int) -> Any:
    """The first request of sample order *n* of *platform*, signed now."""
    return SAMPLES[platform].order(n, random.Random(n), SECRET, datetime.now(timezone.utc)).requests[0]


def no_forged_lines(records: list[logging.LogRecord]) -> None:
    """Nothing of an unauthenticated request was logged, and every record formats to exactly one line."""
    formatter = SafeFormatter(LOG_FORMAT)
    for record in records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own HTTP client
        assert MARKER not in record.getMessage(), f"request text reached the log: {record.getMessage()!r}"
        line = formatter.format(record)
        assert "\n" not in line and "\r" not in line


# -- deep nesting --------------------------------------------------------------------------------------------

DEEP = {
    "json arrays": b"[" * 30_000 + b"]" * 30_000,
    "json objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "xml": b"<a>" * 9_000 + b"</a>" * 9_000,
}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_deep_nesting_is_refused_never_a_5xx(gateway: Gateway, platform: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    before = await gateway.raw_events()
    for what, body in DEEP.items():
        assert len(body) < LIMIT
        forged = await post(gateway.base, f"/webhooks/{platform}", body, **{"content-type": "application/json"})
        assert forged.status_code == 401, f"{what}, unsigned: {forged.status_code} {forged.text}"
        authentic = await send(gateway.base, signed(platform, body))
        # magento's signature check reads the recipient from the JSON body: a body it cannot read is not authentic
        assert authentic.status_code in ({400, 401} if platform == "magento" else {400}), \
            f"{what}, signed: {authentic.status_code} {authentic.text}"
    assert await gateway.raw_events() == before, "nothing reaches the topic"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no 5xx, no error logged"


@pytest.mark.parametrize("body", [
    '{"total": 10.10, "n": 3, "name": "Zoë"}'.encode("utf-8"),
    '{"total": 10.10, "n": 3, "name": "Zoë"}'.encode("utf-16"),  # JSON may come in UTF-16 or UTF-32 (RFC 4627)
    '{"total": 10.10, "n": 3, "name": "Zoë"}'.encode("utf-32-be"),
    b'{"s": "\xed\xa0\x80", "t": 1e2}',  # a surrogate written as UTF-8: Python's json reads it
], ids=["utf-8", "utf-16", "utf-32", "surrogate"])
def test_json_bodies_read_as_pythons_json_reads_them_with_exact_numbers(body: bytes) -> None:
    assert parse_json(body) == json.loads(body, parse_float=Decimal)
    assert all(not isinstance(v, float) for v in parse_json(body).values())


def test_json_nesting_is_bounded_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.errors import PayloadError
    from sources.base import InboundRequest

    assert isinstance(parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH), list), "the limit itself is allowed"
    with pytest.raises(PayloadError, match="levels deep"):
        parse_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert parse_json(b'{"a": "' + b"[" * 10_000 + b'"}') == {"a": "[" * 10_000}, "brackets in strings do not count"
    parsed: list[bytes] = []
    real_loads = json.loads

    def loads(body: bytes, **kw: Any) -> Any:
        parsed.append(body)
        return real_loads(body, **kw)

    monkeypatch.setattr(json, "loads", loads)  # the module sources.base parses with
    for body in DEEP.values():
        if body.startswith(b"<"):
            continue
        with pytest.raises(PayloadError, match="levels deep"):
            parse_json(body)
    with pytest.raises(PayloadError, match="levels deep"):
        parse_json(b"[" * 1_000_000)
    assert parsed == [], "refused before the parser saw it"
    # monday's handshake runs before authentication: a deep body naming a challenge is not one, and raises nothing
    monday = SOURCES["monday"](platform_settings("monday", SOURCES["monday"].settings_class))
    deep = b'{"challenge": "x", "a": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    assert monday.challenge(InboundRequest("POST", "/webhooks/monday", "", {}, deep)) is None
    assert monday.challenge(InboundRequest("POST", "/webhooks/monday", "", {}, b'{"challenge": "abc"}')) is not None


# -- the size limit ------------------------------------------------------------------------------------------

def padded(body: bytes, size: int) -> bytes:
    """*body* grown to exactly *size* bytes without changing what it says (a JSON field, an XML comment,
    a form field)."""
    stripped = body.lstrip()
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        doc = json.loads(body)
        holder = doc if isinstance(doc, dict) else doc[0]
        holder["_pad"] = ""
        need = size - len(json.dumps(doc).encode())
        holder["_pad"] = "x" * need
        out = json.dumps(doc).encode()
    elif stripped.startswith(b"<"):
        out = body + b"<!--" + b"x" * (size - len(body) - 7) + b"-->"
    else:
        out = body + b"&_pad=" + b"x" * (size - len(body) - 6)
    assert len(out) == size, (len(out), size)
    return out


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_bodies_just_under_and_over_the_limit(gateway: Gateway, platform: str) -> None:
    first = sample(platform, 1)
    if first.method != "POST":
        pytest.skip(f"{platform}'s first sample request is a {first.method}")
    before = await gateway.raw_events()
    under = await send(gateway.base, signed(platform, padded(first.body, LIMIT - 1)))
    assert under.status_code < 500 and under.status_code != 413, f"{under.status_code} {under.text}"
    over = await send(gateway.base, signed(platform, padded(first.body, LIMIT + 1)))
    assert over.status_code == 413, f"{over.status_code} {over.text}"
    accepted = 200 <= under.status_code < 300 and b'"ignored"' not in under.content
    assert await gateway.raw_events() - before == (1 if accepted else 0), "only the accepted body reached the topic"


async def test_a_signed_shopify_body_one_byte_under_the_default_limit_is_published(bootstrap: str,
                                                                                 tmp_path: Path) -> None:
    """The body limit (1 MiB by default) and the producer's limit agree: the raw event around the largest body
    the gateway allows is published; one byte more is 413."""
    settings = unique_settings(tmp_path)
    assert settings.max_body_bytes == 1_048_576
    await ensure_topics(settings, bootstrap)
    source = SOURCES["shopify"](PlatformSettings(secret=SecretStr(SECRET)))
    first = sample("shopify", 1)
    limit = settings.max_body_bytes
    async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
        under = await send(base, signed("shopify", padded(first.body, limit - 1)))
        over = await send(base, signed("shopify", padded(first.body, limit + 1)))
    assert 200 <= under.status_code < 300, f"{under.status_code} {under.text}"
    assert over.status_code == 413
    msgs = await read_topic(bootstrap, settings.topic("invoicing.raw-events"), count=1, timeout=10)
    assert len(msgs) == 1 and len(decode("raw_event", msgs[0].value)["body"]) == limit - 1


# -- forged log lines ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS)
async def test_forged_log_lines_reach_no_log(gateway: Gateway, platform: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    before = await gateway.raw_events()
    injected = json.dumps({"id": FORGED, "type": FORGED, "event": {"triggerUuid": FORGED}, "challenge": 1}).encode()
    statuses = [
        (await post(gateway.base, f"/webhooks/{platform}?token=%0ACRITICAL%20{MARKER}", injected,
                    **{"content-type": "application/json", "user-agent": MARKER, "x-request-id": MARKER})).status_code,
        (await post(gateway.base, f"/webhooks/{platform}", f"name={MARKER}%0A&object_id=1%0ACRITICAL+{MARKER}".encode(),
                    **{"content-type": "application/x-www-form-urlencoded"})).status_code,
        (await post(gateway.base, f"/webhooks/{platform}%0ACRITICAL%20{MARKER}", injected)).status_code,
    ]
    assert all(400 <= s < 500 for s in statuses), statuses
    # FreshBooks' registration callback is unauthenticated by design: answered, never published, nothing of it logged
    verification = await post(gateway.base, f"/webhooks/{platform}", f"verifier=abc&object_id=1%0ACRITICAL+{MARKER}".encode(),
                              **{"content-type": "application/x-www-form-urlencoded"})
    assert verification.status_code == (200 if platform == "freshbooks" else 401)
    # an authenticated body may be logged, escaped, but it never forges a line
    authentic = await send(gateway.base, signed(platform, injected.replace(b"FORGED-LOG-LINE", b"signed-text")))
    assert authentic.status_code < 500
    assert await gateway.raw_events() - before <= (1 if authentic.status_code < 300 else 0)
    no_forged_lines(caplog.records)
    gateway_lines = [r for r in caplog.records if r.name == "sources.ingress.gateway"]
    assert gateway_lines, "the refused requests leave their fixed summary"
    assert all("\n" not in r.getMessage() for r in gateway_lines)


# -- huge headers --------------------------------------------------------------------------------------------

async def raw_exchange(port: int, head: bytes, body_chunks: list[bytes] = (), every: float = 0.0,  # type: ignore[assignment]
                       timeout: float = 15.0) -> tuple[bytes, float]:
    """Send *head* (then *body_chunks*, one every *every* seconds) on a raw socket while reading the answer;
    returns what came back before the server closed, and after how long."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def trickle() -> None:
        try:
            writer.write(head)
            await writer.drain()
            for chunk in body_chunks:
                await asyncio.sleep(every)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    sender = asyncio.ensure_future(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout)
    except ConnectionError:
        answer = b""
    finally:
        sender.cancel()
        writer.close()
    return answer, time.monotonic() - started


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_huge_headers_get_431(gateway: Gateway, platform: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    start = f"POST /webhooks/{platform} HTTP/1.1\r\nHost: gateway\r\n".encode()
    one_mib = start + f"X-{MARKER}: ".encode() + b"a" * (1 << 20) + b"\r\nContent-Length: 2\r\n\r\n{}"
    many = start + b"".join(f"X-H{i}: {MARKER}".encode() + b"b" * 1000 + b"\r\n" for i in range(300)) \
        + b"Content-Length: 2\r\n\r\n{}"
    for what, head in (("a 1 MiB header", one_mib), ("300 headers of 1 KiB", many)):
        answer, _ = await raw_exchange(gateway.port, head)
        assert status_of(answer) == 431, f"{what}: {answer[:80]!r}"
    no_forged_lines(caplog.records)


def head_of(size: int, body: bytes) -> bytes:
    """A webhook request head of exactly *size* bytes (request line, headers and the blank line)."""
    start = b"POST /webhooks/shopify HTTP/1.1\r\nHost: gateway\r\nContent-Length: %d\r\nX-Pad: " % len(body)
    head = start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == size
    return head


@pytest.mark.parametrize("pieces", [1, 7, 40], ids=["one write", "7 writes", "40 writes"])
async def test_the_head_limit_is_exact_however_the_head_arrives(gateway: Gateway, pieces: int) -> None:
    """A head of exactly ``max_header_bytes`` is read (its unsigned body is then refused 401); one byte more is
    431, whether the head comes in one write or in pieces (the blank line split between two of them)."""
    limit = gateway.settings.max_header_bytes
    for size, status in ((limit, 401), (limit + 1, 431)):
        wire = head_of(size, b"{}") + b"{}"
        cut = size - 2  # one piece ends in the middle of the blank line
        splits = sorted({*(cut * i // pieces for i in range(1, pieces)), cut} if pieces > 1 else set())
        chunks = [wire[a:b] for a, b in zip([0, *splits], [*splits, len(wire)])]
        answer, _ = await raw_exchange(gateway.port, chunks[0], chunks[1:], every=0.01)
        assert status_of(answer) == status, f"{size}-byte head in {len(chunks)} writes: {answer[:80]!r}"


# -- slow clients --------------------------------------------------------------------------------------------

async def test_slow_heads_slow_bodies_and_idle_connections_are_cut_off(gateway: Gateway) -> None:
    """For every platform at once: a head trickling in, a body trickling in, a connection that says nothing.
    Each ends within the time limit plus the lingering close, with 408 where the client started a request;
    meanwhile a valid webhook is answered at once."""
    bound = TIME_LIMIT + 2.0 + 1.5  # time limit, lingering close, slack on a loaded machine
    slow: list[Any] = []
    for platform in PLATFORMS:
        head = f"POST /webhooks/{platform} HTTP/1.1\r\nHost: gateway\r\n".encode()
        slow.append(raw_exchange(gateway.port, head, [b"X"] * 40, every=0.25))
        body_head = f"POST /webhooks/{platform} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1000\r\n\r\n".encode()
        slow.append(raw_exchange(gateway.port, body_head, [b"{"] * 40, every=0.25))
        slow.append(raw_exchange(gateway.port, b""))
    running = asyncio.gather(*slow)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    valid = sample("shopify", 7)
    assert (await send(gateway.base, valid)).status_code == 200
    assert time.monotonic() - started < 2.0, "slow clients do not delay a valid webhook"
    results = await running
    for i, (answer, took) in enumerate(results):
        kind = ("slow head", "slow body", "idle")[i % 3]
        assert took < bound, f"{kind} connection to {PLATFORMS[i // 3]} lasted {took:.1f} s"
        assert status_of(answer) == (0 if kind == "idle" else 408), f"{kind}: {answer[:80]!r}"


async def test_an_idle_keep_alive_connection_is_closed(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    await writer.drain()
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), 10)  # returns once the server closes
    writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 1.0 + 1.5


# -- routes --------------------------------------------------------------------------------------------------

async def test_a_trailing_slash_is_routed_not_redirected(gateway: Gateway) -> None:
    req = sample("shopify", 3)
    async with httpx.AsyncClient(base_url=gateway.base, timeout=10, follow_redirects=False) as client:
        with_slash = await client.post(req.path + "/", content=req.body, headers={**dict(req.headers), "host": "evil.example"})
        unknown = await client.post("/webhooks/nope/", content=b"{}", headers={"host": "evil.example"})
        forged = await client.post("/webhooks/shopify/", content=b"{}", headers={"host": "evil.example"})
    assert with_slash.status_code == 200 and "location" not in with_slash.headers
    assert unknown.status_code == 404 and "location" not in unknown.headers
    assert forged.status_code == 401 and "location" not in forged.headers


async def test_webhook_paths_and_methods(gateway: Gateway) -> None:
    """Webhooks skip Starlette's routing (`sources.ingress.gateway._Gateway`); what a client sees is as routed."""
    async with httpx.AsyncClient(base_url=gateway.base, timeout=10) as client:
        put = await client.put("/webhooks/shopify", content=b"{}")
        assert put.status_code == 405 and set(put.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
        for path in ("/webhooks/", "/webhooks//", "/webhooks/shopify/x", "/webhooksshopify", "/webhooks/shopify//"):
            answer = await client.post(path, content=b"{}")
            assert answer.status_code == 404 and answer.text == "Not Found", path  # Starlette's, no route
        for path in ("/webhooks/nope", "/webhooks/nope/", "/webhooks/x/%0A"):
            answer = await client.post(path, content=b"{}")
            assert answer.status_code == 404 and answer.json() == {"error": "unknown platform"}, path  # the handler's
        assert (await client.post("/webhooks/shopify", content=b"{}")).status_code == 401
        get = await client.get("/webhooks/shopify")  # reaches the handler: no handshake for Shopify, so not allowed
        assert get.status_code == 405 and get.json() == {"error": "method not allowed"}


async def test_liveness_readiness_and_metrics_on_the_webhook_port(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.base, timeout=10) as client:
        assert (await client.get("/healthz")).json() == {"status": "alive"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"broker", "topics", "producer"}
        assert "invoicing_webhook_requests_total" in (await client.get("/metrics")).text


async def test_metrics_move_to_a_loopback_port_of_their_own(bootstrap: str, tmp_path: Path) -> None:
    from sources.ingress.gateway import RawEventPublisher, create_gateway
    from infra.health import serve_health

    port = free_port()
    settings = unique_settings(tmp_path, gateway_metrics_port=port)
    await ensure_topics(settings, bootstrap)
    publisher = RawEventPublisher(settings, bootstrap)
    await publisher.start()
    server = serve_health(publisher.health, settings.metrics_host, port)
    try:
        app = create_gateway(settings, publisher, {})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            assert (await client.get("/metrics")).status_code == 404
            assert (await client.get("/readyz")).status_code == 200
        assert server.server_address[0] == "127.0.0.1"
        assert "invoicing_ready" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        await publisher.stop()


async def test_without_its_topics_the_gateway_is_not_ready_and_creates_none(bootstrap: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway whose topics do not exist (never created, or lost with the broker) answers 503 to events and
    /readyz, and does not create the raw topic by asking for it."""
    settings = unique_settings(tmp_path)  # no ensure_topics
    sources = {"shopify": _sources(monkeypatch)["shopify"]}
    req = sample("shopify", 2)
    async with running_gateway(settings, bootstrap, sources) as base:
        event = await send(base, req)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    assert event.status_code == 503 and event.headers.get("retry-after")
    assert ready.status_code == 503 and "lacks" in ready.json()["checks"]["topics"]
    assert alive.status_code == 200
    probe = TopicProbe(bootstrap)
    try:
        raw = settings.topic("invoicing.raw-events")
        assert (await probe.partitions([raw]))[raw] == 0, "the gateway never creates the raw topic"
    finally:
        await probe.close()


def test_log_lines_cannot_be_forged() -> None:
    record = logging.LogRecord("sources.ingress.gateway", logging.WARNING, __file__, 1, "value %s", (FORGED + "\u2028\x1b[2J",),
                               None)
    line = SafeFormatter(LOG_FORMAT).format(record)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line and "\x1b" not in line
    assert "\\nCRITICAL" in line



def _calls(path: Path, name: str) -> bool:
    return any(isinstance(n, ast.Call) and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)
               for n in ast.walk(ast.parse(path.read_text())))


def test_every_gateway_the_code_builds_is_served_by_the_hardened_server() -> None:
    """The limits above live in sources.ingress.server: whoever builds the gateway app (`invoicing gateway`,
    the demo, the bench) serves it there, not on a bare uvicorn.Server."""
    builders = [p for pkg in ("sources", "streams", "invoicing", "demo") for p in (REPO / pkg).rglob("*.py")
                if _calls(p, "create_gateway")]
    assert {p.relative_to(REPO).as_posix() for p in builders} >= {"sources/ingress/gateway.py", "demo/run.py"}
    assert [p.relative_to(REPO).as_posix() for p in builders if not _calls(p, "gateway_server")] == []
