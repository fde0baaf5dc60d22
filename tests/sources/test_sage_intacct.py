"""Sage Intacct platform triggers: JWT (exp/iss/aud), trusted context, idempotency key."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import jwt
import pytest

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from demo.samples import sage_intacct as samples
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)  # the documents' dates; a JWT verified here is made when sent (exp 5 min)
BODY = json.dumps(samples.document(1, "Converted", NOW)).encode()


def _with(req: object, **headers: str) -> object:
    return type(req)(req.path, req.body, {**req.headers, **headers})  # type: ignore[attr-defined]


def test_good_request_and_dedup_on_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sage-intacct", monkeypatch)
    req = samples._request(BODY, SECRET, datetime.now(timezone.utc), "idem-123")
    source.verify(inbound(req))
    event_id = source.describe(inbound(req)).event_id
    assert event_id.startswith("idem-123:") and source.describe(inbound(req)).event_id == event_id
    swapped = samples._request(json.dumps(samples.document(2, "Converted", NOW)).encode(), SECRET, NOW, "idem-123")
    assert source.describe(inbound(swapped)).event_id != event_id, "a captured key sent with another body is another event"


@pytest.mark.parametrize("claims", [{"aud": "someone-else"}, {"iss": "https://evil.example"}, {"exp": int(time.time()) - 600}])
def test_bad_claims_are_rejected(claims: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sage-intacct", monkeypatch)
    base = {"iss": "https://api.intacct.com", "aud": "invoicing-pipeline", "exp": int(time.time()) + 300}
    token = jwt.encode({**base, **claims}, SECRET, algorithm="HS256")
    req = _with(samples._request(BODY, SECRET, NOW, "k"), Authorization=f"Bearer {token}")
    with pytest.raises(SignatureError):
        source.verify(inbound(req))


def test_alg_none_and_missing_exp_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sage-intacct", monkeypatch)
    for token in (jwt.encode({"iss": "https://api.intacct.com", "aud": "invoicing-pipeline"}, SECRET, algorithm="HS256"),
                  jwt.encode({"exp": int(time.time()) + 60}, None, algorithm="none")):
        with pytest.raises(SignatureError):
            source.verify(inbound(_with(samples._request(BODY, SECRET, NOW, "k"), Authorization=f"Bearer {token}")))


def test_trusted_context_of_another_client_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    source = make_source("sage-intacct", monkeypatch)
    other = base64.b64encode(json.dumps({"clientId": "other.app.sage.com"}).encode()).decode()
    with pytest.raises(SignatureError):
        source.verify(inbound(_with(samples._request(BODY, SECRET, NOW, "k"), **{"X-Trusted-Context": other})))


def test_pending_ignored_and_missing_key_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("sage-intacct", monkeypatch)
    pending = samples._request(json.dumps(samples.document(1, "Pending", NOW)).encode(), SECRET, NOW, "k2")
    with pytest.raises(IgnoredEvent):
        source.describe(inbound(pending))
    req = samples._request(BODY, SECRET, NOW, "k3")
    headers = {k: v for k, v in req.headers.items() if k != "Idempotency-Key"}
    with pytest.raises(PayloadError):
        source.describe(inbound(type(req)(req.path, req.body, headers)))
