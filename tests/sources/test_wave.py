"""Wave: the poller against the real broker and a loopback fake of Wave's GraphQL API."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.broker import ensure_topics
from domain.codec import decode
from domain.errors import FetchError, IgnoredEvent, SignatureError
from sources.ingress.poller import Poller, pollable_sources
from sources.polling import PollCursor
from demo.samples import wave as sample
from domain.settings import platform_settings
from sources.base import InboundRequest
from sources.wave import Wave, WaveSettings
from tests.fakes.wave_graphql import FakeWaveAPI
from tests.support import read_topic, topic_size, unique_settings

SECRET = "wave-poller-secret-0123456789"
TOKEN = "wave-full-access-token"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _source(monkeypatch: pytest.MonkeyPatch, url: str = "http://127.0.0.1:9/graphql/public", page_size: int = 2) -> Wave:
    for k, v in {"SECRET": SECRET, "TENANT": sample.BUSINESS_ID, "ACCESS_TOKEN": TOKEN, "BASE_URL": url,
                 "PAGE_SIZE": str(page_size)}.items():
        monkeypatch.setenv(f"INVOICING_WAVE_{k}", v)
    return Wave(platform_settings("wave", WaveSettings))


def _inbound(body: bytes, headers: dict[str, str]) -> InboundRequest:
    return InboundRequest("POST", "/webhooks/wave", "", {k.lower(): v for k, v in headers.items()}, body)


def _node(n: int, status: str = "PAID", at: datetime | None = None) -> dict[str, Any]:
    return sample.invoice_node(n, status, modified=at or T0 + timedelta(minutes=n))


async def test_poll_twice_restart_no_duplicates_nothing_missed(bootstrap: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    raw_topic = settings.topic("invoicing.raw-events")
    with FakeWaveAPI(sample.BUSINESS_ID, TOKEN) as api:
        source = _source(monkeypatch, api.url)
        for n in range(5):
            api.put(_node(n))
        same = T0 + timedelta(minutes=10)
        api.put(_node(5, at=same))
        api.put(_node(6, at=same))           # two invoices modified at the same instant
        api.put(_node(7, status="DRAFT"))    # never published
        api.put(_node(8, status="SENT"))     # ORDER_UPDATED
        expected = {f"{n['id']}:{n['modifiedAt']}" for n in api.invoices.values() if n["status"] != "DRAFT"}

        async with Poller(settings, bootstrap, {"wave": source}) as poller:
            assert (await poller.poll_once())["wave"] == 8
            api.put(_node(9, at=same))       # late writer, same instant as the watermark
            api.put(_node(2, status="SENT", at=T0 + timedelta(minutes=20)))  # an old invoice changed
            api.put(_node(10, at=T0 + timedelta(minutes=21)))
            expected |= {f"{api.invoices[k]['id']}:{api.invoices[k]['modifiedAt']}" for k in
                         (_node(9)["id"], _node(2)["id"], _node(10)["id"])}
            assert (await poller.poll_once())["wave"] == 3
            assert (await poller.poll_once())["wave"] == 0
            saved = poller.cursors["wave"]

        async with Poller(settings, bootstrap, {"wave": _source(monkeypatch, api.url)}) as restarted:
            assert restarted.cursors["wave"] == saved, "the cursor survives the restart"
            assert (await restarted.poll_once())["wave"] == 0
            api.put(_node(11, at=T0 + timedelta(minutes=30)))
            expected.add(f"{_node(11)['id']}:{_node(11, at=T0 + timedelta(minutes=30))['modifiedAt']}")
            assert (await restarted.poll_once())["wave"] == 1

    msgs = await read_topic(bootstrap, raw_topic, count=len(expected), timeout=15, idle=1.0)
    ids = [decode("raw_event", m.value)["event_id"] for m in msgs]
    assert len(ids) == len(set(ids)), "no duplicates"
    assert set(ids) == expected, "nothing missed"
    for m in msgs:
        raw = decode("raw_event", m.value)
        assert m.key == f"wave:{raw['event_id']}".encode()
        Wave(platform_settings("wave", WaveSettings)).verify(_inbound(raw["body"], raw["headers"]))
        assert not any("token" in k for k in raw["headers"]), "no credentials on the topic"
    assert await topic_size(bootstrap, settings.topic("invoicing.poll-cursors")) >= 3


async def test_api_failure_keeps_the_cursor(bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    with FakeWaveAPI(sample.BUSINESS_ID, TOKEN) as api:
        source = _source(monkeypatch, api.url)
        api.put(_node(1))
        api.fail_next = 1
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.poll(client, PollCursor())
        assert err.value.retriable
        api.fail_next = 1
        async with Poller(settings, bootstrap, {"wave": source}) as poller:
            assert (await poller.poll_once())["wave"] == -1
            assert "wave" not in poller.cursors
            assert (await poller.poll_once())["wave"] == 1


async def test_wrong_token_is_a_retriable_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWaveAPI(sample.BUSINESS_ID, "another-token") as api:
        source = _source(monkeypatch, api.url)
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.poll(client, PollCursor())
    assert err.value.retriable


def test_status_mapping_and_ignored_drafts(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    for status, trigger in (("PAID", "PAYMENT_RECEIVED"), ("OVERPAID", "PAYMENT_RECEIVED"), ("SENT", "ORDER_UPDATED"),
                            ("PARTIAL", "ORDER_UPDATED")):
        req = sample.signed(sample.json.dumps(_node(3, status)).encode(), SECRET, T0)
        info = source.describe(_inbound(req.body, dict(req.headers)))
        raw = {"platform": "wave", "event_type": info.event_type, "event_id": info.event_id, "received_at": T0,
               "headers": {}, "body": req.body, "content_type": "application/json"}
        [event] = source.normalise(raw)
        assert isinstance(event, dict) and event["trigger"] == trigger
        assert (event["amount_paid"] is not None) == (trigger == "PAYMENT_RECEIVED")
    for status in ("DRAFT", "SAVED"):
        req = sample.signed(sample.json.dumps(_node(3, status)).encode(), SECRET, T0)
        with pytest.raises(IgnoredEvent):
            source.describe(_inbound(req.body, dict(req.headers)))


def test_unsigned_post_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(monkeypatch)
    body = sample.json.dumps(_node(1)).encode()
    with pytest.raises(SignatureError):
        source.verify(_inbound(body, {"content-type": "application/json"}))


def test_wave_is_the_only_polled_source(monkeypatch: pytest.MonkeyPatch) -> None:
    _source(monkeypatch)
    assert "wave" in pollable_sources()
    assert set(pollable_sources("wave")) == {"wave"}


def test_cursor_roundtrip() -> None:
    c = PollCursor().advance(T0, "a").advance(T0, "b").advance(T0 - timedelta(seconds=1), "old")
    assert c == PollCursor.from_json(c.to_json())
    assert not c.is_new(T0, "a") and c.is_new(T0, "c") and not c.is_new(T0 - timedelta(seconds=5), "z")


@pytest.mark.parametrize("field, value", [("items", True), ("taxes", True), ("taxes", "19%")])
def test_a_malformed_line_list_is_refused_in_plain_words(monkeypatch: pytest.MonkeyPatch, field: str, value: Any) -> None:
    """Found by the gateway fuzzing: a non-list where Wave sends a list was told as "object of type 'bool' has no len()"."""
    import json

    from domain.errors import PayloadError

    node = _node(1)
    if field == "items":
        node["items"] = value
    else:
        node["items"][0]["taxes"] = value
    raw = {"platform": "wave", "event_type": "invoice.PAID", "received_at": datetime.now(timezone.utc),
           "body": json.dumps(node).encode()}
    with pytest.raises(PayloadError, match="should be a list") as refused:
        _source(monkeypatch).normalise(raw)
    assert "len()" not in str(refused.value) and "bool" not in str(refused.value)
