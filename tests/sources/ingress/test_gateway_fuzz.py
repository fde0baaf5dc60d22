"""Fuzzing with hypothesis, bounded in time (issue #17).

* The gateway's request handling for every platform: random methods, paths, query strings, headers
  and bodies (random bytes, random JSON, the platform's own sample broken in random places), signed
  the platform's way or not. No answer is a 5xx and no exception escapes the app; whatever is
  published fits the derived size limit.
* The platforms' readers: the sample event (or, for thin platforms, the API document it fetches)
  with one field replaced by a value of the wrong kind or removed. A reader either copes or its
  dead-letter reason says what failed in plain words, never a Python exception class name.

The app runs in-process (httpx's ASGI transport) on an event loop of its own thread, so hypothesis
drives plain functions. Examples are few per platform (``FUZZ_EXAMPLES``) and there is no deadline.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Awaitable, Iterator, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from domain.codec import decode, encode
from domain.errors import PipelineError
from sources.ingress.gateway import create_gateway
from sources.records import raw_event_record
from domain.reasons import plain_reason
from demo.samples import SAMPLES, settings_env
from domain.settings import Settings, platform_settings
from sources.base import InboundRequest, ThinEvent
from sources.registry import SOURCES
from tests.fakes.platform_api import FakePlatformAPI

PLATFORMS = sorted(SOURCES)
SECRET = "fuzz-secret-0123456789abcdef-0123"
FUZZ_EXAMPLES = 40
LIMIT = 16 * 1024
T = TypeVar("T")

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


class LoopThread:
    """An event loop running in a thread of its own; `run` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Recorder:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[tuple[bytes, bytes]] = []

    async def publish(self, key: bytes, value: bytes) -> None:
        self.published.append((key, value))


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[LoopThread, Any, Recorder, Settings]]:
    with pytest.MonkeyPatch.context() as mp:
        for platform in PLATFORMS:
            for key, value in settings_env(platform, SECRET).items():
                mp.setenv(key, value)
        sources = {p: cls(platform_settings(p, cls.settings_class)) for p, cls in SOURCES.items()}
    config = Settings(max_body_bytes=LIMIT)
    recorder = Recorder()
    app = create_gateway(config, recorder, sources)
    thread = LoopThread()
    try:
        yield thread, app, recorder, config
    finally:
        thread.close()


def _sample(platform: str, n: int = 1) -> Any:
    return SAMPLES[platform].order(n, random.Random(n), SECRET, datetime.now(timezone.utc))


def _mutated_bytes(data: st.DataObject, body: bytes) -> bytes:
    how = data.draw(st.sampled_from(["flip", "truncate", "splice", "duplicate"]))
    if not body:
        return data.draw(st.binary(max_size=64))
    i = data.draw(st.integers(0, len(body) - 1))
    if how == "flip":
        return body[:i] + bytes([body[i] ^ data.draw(st.integers(1, 255))]) + body[i + 1:]
    if how == "truncate":
        return body[:i]
    if how == "splice":
        return body[:i] + data.draw(st.binary(max_size=40)) + body[i:]
    return body + body[i:]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_request_makes_the_gateway_fail(rig: tuple[LoopThread, Any, Recorder, Settings], platform: str) -> None:
    thread, app, recorder, config = rig
    sample = _sample(platform).requests[0]
    header_names = sorted({*(k.lower() for k in sample.headers), *SOURCES[platform].keep_headers, "authorization",
                           "content-type", "x-invoicing-token", "content-length", "host"} - {"content-length"})

    async def call(method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await client.request(method, url, headers=headers, content=body)

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["bytes", "json", "sample"]))
        if kind == "bytes":
            body = data.draw(st.binary(max_size=512))
        elif kind == "json":
            body = json.dumps(data.draw(JSON)).encode()
        else:
            body = _mutated_bytes(data, sample.body)
        if data.draw(st.booleans()):
            req = SAMPLES[platform].signed(body, SECRET, datetime.now(timezone.utc))
            headers, path, query = dict(req.headers), req.path, req.query
        else:
            headers, path, query = {}, f"/webhooks/{platform}", ""
        for name in data.draw(st.lists(st.sampled_from(header_names), max_size=4)):
            headers[name] = data.draw(HEADER_TEXT)
        if data.draw(st.booleans()):
            query = "&".join(filter(None, [query, quote(data.draw(st.text(max_size=30)), safe="=&")]))
        path += data.draw(st.sampled_from(["", "", "/"]))
        method = data.draw(st.sampled_from(["POST", "POST", "POST", "GET", "HEAD", "PUT", "DELETE"]))
        before = len(recorder.published)
        response = thread.run(call(method, path + (f"?{query}" if query else ""), headers, body))
        assert response.status_code < 500, f"{method} {path} → {response.status_code} {response.text[:200]}"
        for key, value in recorder.published[before:]:
            assert len(key) + len(value) <= config.max_raw_event_bytes
            assert decode("raw_event", value)["platform"] == platform

    fuzz()


# -- readers ----------------------------------------------------------------------------------------------

#: Python talking instead of a person: class names, type names, interpreter phrases
PYTHON_SPEAK = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b|NoneType|not subscriptable|has no attribute"
                          r"|object is not|unhashable|Traceback|<class|argument of type|positional argument"
                          r"|unsupported operand|'(?:str|int|dict|list|float|bool|tuple|bytes|Decimal)'")
WRONG_VALUES: list[Any] = [None, "", "zz", [], {}, 0, -1, "1e400", "NaN", True, "2026-13-45T99:00:00Z", [None], {"": None}]


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        out.append(here + (key,))
        out.extend(_paths(value, here + (key,)))
    return out


def _mutate_json(data: st.DataObject, doc: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    paths = _paths(doc)
    if not paths:
        return data.draw(st.sampled_from(WRONG_VALUES))
    path = data.draw(st.sampled_from(paths))
    holder = doc
    for key in path[:-1]:
        holder = holder[key]
    if isinstance(holder, dict) and data.draw(st.booleans()):
        del holder[path[-1]]
    else:
        holder[path[-1]] = data.draw(st.sampled_from(WRONG_VALUES))
    return doc


def _mutate_xml(data: st.DataObject, body: bytes) -> bytes:
    root = ET.fromstring(body)
    elements = list(root.iter())[1:]
    if not elements:
        return body
    target = data.draw(st.sampled_from(elements))
    if data.draw(st.booleans()):
        for parent in root.iter():
            if target in list(parent):
                parent.remove(target)
                break
    else:
        target.text = data.draw(st.sampled_from(["", "zz", "-1", "1e400", "NaN", "2026-13-45"]))
    return ET.tostring(root)


def _reason(exc: BaseException, platform: str) -> str:
    """The dead-letter reason the worker writes for *exc* (see `streams.context.Context.dead_letter`)."""
    return str(exc) if isinstance(exc, PipelineError) else plain_reason(exc, what=f"the {platform} message k")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_reader_failures_are_told_in_plain_words(rig: tuple[LoopThread, Any, Recorder, Settings], platform: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    thread = rig[0]
    for key, value in settings_env(platform, SECRET).items():
        monkeypatch.setenv(key, value)
    order = _sample(platform, 3)
    req = order.requests[0]
    inbound = InboundRequest(method=req.method, path=req.path, query=req.query, body=req.body,
                             headers={k.lower(): v for k, v in req.headers.items()},
                             url=f"http://gateway.test{req.path}" + (f"?{req.query}" if req.query else ""))
    with FakePlatformAPI(routes=order.api) as api:
        monkeypatch.setenv(f"INVOICING_{platform.upper().replace('-', '_')}_BASE_URL", api.url)
        cls = SOURCES[platform]
        source = cls(platform_settings(platform, cls.settings_class))
        info = source.describe(inbound)
        raw = decode("raw_event", encode("raw_event", raw_event_record(platform, info, inbound, source)))
        original_routes = dict(order.api)

        async def read(raw_event: dict[str, Any]) -> None:
            async with httpx.AsyncClient(timeout=5) as client:
                for item in source.normalise(raw_event):
                    if isinstance(item, ThinEvent):
                        for event in await source.fetch(item, client):
                            encode("order_event", event)
                    else:
                        encode("order_event", item)

        @FUZZ
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            api.routes = dict(original_routes)
            event = dict(raw)
            if source.thin and original_routes:
                route = data.draw(st.sampled_from(sorted(original_routes)))
                doc = original_routes[route]
                api.routes[route] = _mutate_json(data, doc) if isinstance(doc, (dict, list)) else doc
            elif raw["body"].lstrip().startswith(b"<"):
                event["body"] = _mutate_xml(data, raw["body"])
            else:
                event["body"] = json.dumps(_mutate_json(data, json.loads(raw["body"]))).encode()
            try:
                thread.run(read(event))
            except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter; its reason is checked
                reason = _reason(exc, platform)
                assert reason.strip(), "a reason is given"
                assert not PYTHON_SPEAK.search(reason), f"{type(exc).__name__}: {reason}"

        fuzz()
