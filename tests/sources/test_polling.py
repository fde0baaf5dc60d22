"""What every source that can also be polled (``transport = "both"``) must do, run once per platform.

The pollers themselves run against the real broker in tests/sources/test_<platform>_poll.py.
"""
from __future__ import annotations

import pytest

from invoicing.poller import pollable_sources
from sources.registry import SOURCES
from tests.support import polling_source

#: the webhook secret each platform's poll tests sign with
SECRETS = {"odoo": "odoo-webhook-token-0123456789", "woocommerce": "wc-webhook-secret-0123456789"}


@pytest.mark.parametrize("platform", sorted(SECRETS))
def test_polling_is_off_by_default(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    polling_source(platform, monkeypatch, SECRETS[platform], "http://127.0.0.1:9", poll=False)
    assert SOURCES[platform].transport == "both"
    assert platform not in pollable_sources()
