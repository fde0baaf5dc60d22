"""NetSuite SuiteScript callouts: timestamped HMAC, status mapping."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from demo.samples import netsuite as samples
from tests.sources.test_contract import SECRET, inbound, make_source

NOW = datetime.now(timezone.utc)  # the documents' dates; signatures are made when sent (300 s tolerance)


def _req(status: str, at: datetime | None = None) -> object:
    return samples.signed(json.dumps(samples.payload(2, random.Random(2), status, NOW)).encode(), SECRET,
                          at or datetime.now(timezone.utc))


def test_signature_and_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("netsuite", monkeypatch)
    source.verify(inbound(_req("pendingBilling")))
    with pytest.raises(SignatureError):
        source.verify(inbound(_req("pendingBilling", datetime.now(timezone.utc) - timedelta(minutes=10))))
    good = _req("pendingBilling")
    forged = type(good)(good.path, good.body.replace(b"pendingBilling", b"fullyBilled"), good.headers)  # type: ignore[attr-defined]
    with pytest.raises(SignatureError):
        source.verify(inbound(forged))


@pytest.mark.parametrize(("status", "trigger"), [("pendingBilling", "SHIPMENT_CONFIRMED"), ("fullyBilled", "SHIPMENT_CONFIRMED"),
                                                 ("pendingFulfillment", None)])
def test_status_mapping_and_shared_dedup_key(status: str, trigger: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("netsuite", monkeypatch)
    req = _req(status)
    if trigger is None:
        with pytest.raises(IgnoredEvent):
            source.describe(inbound(req))
        return
    info = source.describe(inbound(req))
    raw = {"platform": "netsuite", "event_type": info.event_type, "event_id": info.event_id, "received_at": NOW,
           "headers": {}, "body": req.body}  # type: ignore[attr-defined]
    ev = source.normalise(raw)[0]
    assert isinstance(ev, dict) and ev["trigger"] == trigger
    assert ev["dedup_keys"] == ["netsuite:salesorder:48202:billable"]


def test_foreign_json_is_a_payload_error(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source("netsuite", monkeypatch)
    with pytest.raises(PayloadError):
        source.describe(inbound(samples.signed(b'{"id": 1}', SECRET, NOW)))
