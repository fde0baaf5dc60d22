"""What every source that can also be polled (a `PollingSource` that is not ``always_polled``) must do, run once per platform.

The pollers themselves run against the real broker in tests/sources/test_<platform>_poll.py.
"""
from __future__ import annotations

import pytest

from sources.ingress.poller import pollable_sources
from sources.polling import PollingSource
from sources.registry import SOURCES
from tests.support import polling_source

#: the webhook secret each platform's poll tests sign with
SECRETS = {"odoo": "odoo-webhook-token-0123456789", "woocommerce": "wc-webhook-secret-0123456789"}


@pytest.mark.parametrize("platform", sorted(SECRETS))
def test_polling_is_off_by_default(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    polling_source(platform, monkeypatch, SECRETS[platform], "http://127.0.0.1:9", poll=False)
    assert issubclass(SOURCES[platform], PollingSource) and not SOURCES[platform].always_polled
    assert platform not in pollable_sources()
