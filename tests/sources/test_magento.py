"""Magento (Adobe I/O Events) source: GET challenge, RSA signatures with fetched or pinned keys, recipient check."""
from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import IgnoredEvent, SignatureError
from demo.samples import magento as samples
from sources.base import InboundRequest
from sources.magento import Magento
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "adobe-io-test-identity"


def make(monkeypatch: pytest.MonkeyPatch, pinned: bool = True, **env: str) -> Magento:
    omit = () if pinned else ("INVOICING_MAGENTO_PUBLIC_KEY_PEM",)
    return source_from_env("magento", monkeypatch, SECRET, omit=omit, **env)  # type: ignore[no-any-return]


def inbound(body: bytes, headers: Any, method: str = "POST", query: str = "") -> InboundRequest:
    return InboundRequest(method, "/webhooks/magento", query, {k.lower(): v for k, v in dict(headers).items()}, body)


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "magento", "event_type": "x", "event_id": "x", "received_at": datetime.now(timezone.utc),
            "headers": {}, "body": body}


def test_get_challenge_is_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = make(monkeypatch).challenge(inbound(b"", {}, method="GET", query="challenge=8ec8d794-e0ab-42df-9017-e3dada8e84f7"))
    assert reply is not None and json.loads(reply.body) == {"challenge": "8ec8d794-e0ab-42df-9017-e3dada8e84f7"}
    assert make(monkeypatch).challenge(inbound(b"{}", {})) is None


def test_keys_are_fetched_from_the_key_host_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    _, pem, _ = samples.identity(SECRET)
    routes = {f"GET {samples.KEY1_PATH}": pem.encode(), f"GET {samples.KEY2_PATH}": pem.encode()}
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    with FakePlatformAPI(routes=routes) as api:
        source = make(monkeypatch, pinned=False, key_base_url=api.url, key_hosts="127.0.0.1")
        source.verify(inbound(req.body, req.headers))
        source.verify(inbound(req.body, req.headers))
        assert len(api.requests) == 1
    with pytest.raises(SignatureError):  # the default key host list does not include loopback
        make(monkeypatch, pinned=False, key_base_url="http://127.0.0.1:9").verify(inbound(req.body, req.headers))


@pytest.mark.parametrize("path", ["//evil.example/key.pem", "/../../etc/key.pem", "@evil.example/key.pem", "key.pem"])
def test_key_paths_that_could_leave_the_key_host_are_refused(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    headers = {**req.headers, "x-adobe-public-key1-path": path, "x-adobe-public-key2-path": path}
    with pytest.raises(SignatureError):
        make(monkeypatch, pinned=False).verify(inbound(req.body, headers))


def test_either_signature_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    garbage = base64.b64encode(b"\x00" * 256).decode()
    make(monkeypatch).verify(inbound(req.body, {**req.headers, "x-adobe-digital-signature-1": garbage}))
    make(monkeypatch).verify(inbound(req.body, {**req.headers, "x-adobe-digital-signature-2": garbage}))
    with pytest.raises(SignatureError):
        make(monkeypatch).verify(inbound(req.body, {**req.headers, "x-adobe-digital-signature-1": garbage,
                                                    "x-adobe-digital-signature-2": "%%%"}))


def test_event_for_another_client_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.invoice_event(1, "someone-elses-client-id")
    body = json.dumps(doc).encode()
    with pytest.raises(SignatureError):
        make(monkeypatch).verify(inbound(body, samples.signature_headers(body, SECRET)))


def test_other_event_types_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.invoice_event(1, "x")
    doc["type"] = "com.adobe.commerce.observer.sales_order_save_after"
    body = json.dumps(doc).encode()
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


def test_normalised_invoice(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = samples.invoice_event(2, "x")  # Van Dijk, NL, 21 %
    [ev] = make(monkeypatch).normalise(raw_of(json.dumps(doc).encode()))
    value = doc["data"]["value"]  # type: ignore[index]
    assert ev["trigger"] == "PAYMENT_RECEIVED" and ev["order_number"] == value["order"]["increment_id"]
    assert ev["lines"][0]["tax_rate"] == Decimal("21.00")
    assert ev["announced_total"] == Decimal(value["grand_total"]) == ev["amount_paid"]
    net = sum(line["quantity"] * line["unit_price"] for line in ev["lines"]) + ev["shipping"]
    assert net == Decimal(value["subtotal"]) + Decimal(value["shipping_amount"])
