"""The gateway's log lines in JSON (INVOICING_LOG_FORMAT=json, domain.jsonlog): each request's lines carry the
platform, and once the request is authenticated its event id; never the secret."""
from __future__ import annotations

import io
import json
import logging
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from pydantic import SecretStr

from demo.samples import shopify as shop
from domain.jsonlog import JsonFormatter
from domain.settings import PlatformSettings
from infra.broker import ensure_topics
from sources.shopify import Shopify
from tests.support import running_gateway, unique_settings

SECRET = "json-logs-shopify-secret-value"


@pytest.fixture
def gateway_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sources.ingress.gateway")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


async def test_gateway_lines_name_the_platform_and_event_and_never_the_secret(
        bootstrap: str, tmp_path: Path, gateway_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_SHOPIFY_SECRET", SECRET)  # the redactor reads secret-named variables
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    sample = shop.order(7, random.Random(7), SECRET, datetime.now(timezone.utc))
    req = sample.requests[0]
    async with running_gateway(settings, bootstrap, {"shopify": Shopify(PlatformSettings(secret=SecretStr(SECRET)))}) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.post(req.path, content=req.body, headers=dict(req.headers))).status_code == 200
        forged = {**dict(req.headers), "X-Shopify-Hmac-Sha256": SECRET}
        assert (await client.post(req.path, content=req.body, headers=forged)).status_code == 401
    docs = [json.loads(line) for line in gateway_lines.getvalue().splitlines()]
    accepted = [d for d in docs if d["message"] == "shopify event accepted"]
    assert len(accepted) == 1 and accepted[0]["platform"] == "shopify"
    assert accepted[0]["event_id"] == req.headers["X-Shopify-Event-Id"]
    refused = [d for d in docs if "answered 401" in d["message"]]
    assert len(refused) == 1 and refused[0]["platform"] == "shopify" and "event_id" not in refused[0]
    assert SECRET not in gateway_lines.getvalue()
