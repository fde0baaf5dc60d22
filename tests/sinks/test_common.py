"""What the sinks must do with their credentials (``infra/oauth.py``), run once per target.

* OAuth: a token revoked early is refreshed on the 401 and the call replayed; a token about
  to expire is refreshed before the next call, not after a 401.
* Refused credentials raise `AuthError`, and neither the wrong value we sent nor the real
  secrets (client secret, refresh token, API key) ever show in the error, in a parked
  delivery's detail or in the repr of the sink's auth.

Each case keeps the invoice numbers, token path and wrong credential its target's own
test file used before these tests were gathered here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from domain.errors import AuthError
from sinks.delivery import deliver
from sinks.registry import SINKS
from tests.fakes.targets import stripe as fake_stripe
from tests.fakes.targets._token_issuer import REFRESH, SECRET
from tests.support import sample_invoice, sink_under_test


@dataclass(frozen=True)
class OAuthCase:
    token_path: str
    first_invoice: int  #: three invoices from here
    basic_client_auth: bool = False  #: the client authenticates to the token endpoint with Basic


@dataclass(frozen=True)
class WrongCredential:
    setting: str  #: a credential setting, set to *value*
    value: str
    invoice: int
    secrets: tuple[str, ...] = (SECRET, REFRESH)  #: the real secrets of the target's stand-in


OAUTH = {
    "hubspot": OAuthCase("/oauth/v1/token", 74),
    "paypal": OAuthCase("/v1/oauth2/token", 56),
    "quickbooks": OAuthCase("/oauth2/v1/tokens/bearer", 34, basic_client_auth=True),
    "wave": OAuthCase("/oauth2/token/", 65),
    "xero": OAuthCase("/connect/token", 27),
}

WRONG = {
    "hubspot": WrongCredential("CLIENT_SECRET", "hs-wrong-secret-5151", 77),
    "paypal": WrongCredential("CLIENT_SECRET", "paypal-wrong-secret-4242", 59),
    "quickbooks": WrongCredential("REFRESH_TOKEN", "stale-refresh-token-999", 37),
    "stripe": WrongCredential("API_KEY", "sk_test_wrongwrongwrong_secret_9876", 45, secrets=(fake_stripe.API_KEY,)),
    "wave": WrongCredential("REFRESH_TOKEN", "wave-stale-refresh-7777", 68),
    "xero": WrongCredential("CLIENT_SECRET", "wrong-secret-value-123", 29),
}


def make_sink(target: str) -> Any:
    return sink_under_test(SINKS[target])


@pytest.mark.parametrize("fake", sorted(OAUTH), indirect=True)
async def test_token_refresh_on_401_and_before_expiry(fake: Any) -> None:
    case, target = OAUTH[fake.target], fake.target
    sink = make_sink(target)
    try:
        await deliver(sink, sample_invoice(case.first_invoice, targets=(target,)), sink.pipeline)
        fake.tokens.revoke()
        r = await deliver(sink, sample_invoice(case.first_invoice + 1, targets=(target,)), sink.pipeline)
        assert r.status == "DELIVERED" and r.attempts == 1 and fake.tokens.issued == 2
        sink.auth.cache.expires_at = time.monotonic() + 5  # inside the refresh margin
        seen = len(fake.requests)
        await deliver(sink, sample_invoice(case.first_invoice + 2, targets=(target,)), sink.pipeline)
    finally:
        await sink.close()
    assert fake.tokens.issued == 3
    assert fake.requests[seen].path == case.token_path, "refreshed before the call, not after a 401"
    if case.basic_client_auth:
        assert fake.requests[seen].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize("fake", sorted(WRONG), indirect=True)
async def test_secrets_never_in_errors(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong, target = WRONG[fake.target], fake.target
    monkeypatch.setenv(f"INVOICING_{target.upper()}_{wrong.setting}", wrong.value)
    sink = make_sink(target)
    inv = sample_invoice(wrong.invoice, targets=(target,))
    try:
        with pytest.raises(AuthError) as err:
            await sink.find_invoice(inv, inv["invoice_id"])
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    for text in (str(err.value), result.detail or "", repr(sink.auth)):
        for secret in (wrong.value, *wrong.secrets):
            assert secret not in text
