"""Rotated refresh tokens survive a restart, encrypted at rest (Xero rotates on every refresh)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from domain.errors import AuthError, ConfigError
from infra.token_store import configure_token_store
from infra import oauth as auth
from sinks.xero import XeroSink
from tests.fakes.targets import xero as fake_xero
from tests.support import deliver_once, find_once, sample_invoice, sink_under_test

SINK = XeroSink


@pytest.fixture
def rotating(fake: fake_xero.XeroFake) -> Iterator[fake_xero.XeroFake]:
    fake.tokens.rotate = True
    auth._CACHES.clear()  # noqa: SLF001 - a fresh process
    yield fake
    auth._CACHES.clear()  # noqa: SLF001
    configure_token_store(None, None)


def restart() -> None:
    auth._CACHES.clear()  # noqa: SLF001 - what a worker restart forgets


async def test_rotated_refresh_token_is_kept_across_a_restart(rotating: fake_xero.XeroFake, tmp_path: Path) -> None:
    store_file = tmp_path / "tokens.json"
    configure_token_store(store_file, Fernet.generate_key().decode())
    first = await deliver_once(sink_under_test(XeroSink), sample_invoice(71, targets=("xero",)))
    assert first.status == "DELIVERED", first.detail
    spent = fake_xero.REFRESH
    assert rotating.tokens.refresh_token != spent, "the platform rotated the refresh token"
    restart()
    again = await deliver_once(sink_under_test(XeroSink), sample_invoice(72, targets=("xero",)))
    assert again.status == "DELIVERED", again.detail
    text = store_file.read_text()
    assert rotating.tokens.refresh_token not in text and spent not in text, "only ciphertext on disk"
    assert oct(store_file.stat().st_mode & 0o777) == "0o600"


async def test_without_a_store_the_spent_token_fails_after_restart(rotating: fake_xero.XeroFake) -> None:
    configure_token_store(None, None)
    assert (await deliver_once(sink_under_test(XeroSink), sample_invoice(73, targets=("xero",)))).status == "DELIVERED"
    restart()
    with pytest.raises(AuthError):
        await find_once(sink_under_test(XeroSink), sample_invoice(74))


def test_store_needs_both_path_and_a_valid_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        configure_token_store(tmp_path / "t.json", None)
    with pytest.raises(ConfigError):
        configure_token_store(tmp_path / "t.json", "not-a-fernet-key")
