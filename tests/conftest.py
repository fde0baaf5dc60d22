"""Fixtures: one real broker per test session.

* ``KAFKA_BOOTSTRAP_SERVERS`` set: that cluster;
* ``INVOICING_TEST_BROKER=testcontainers`` and a Docker engine: testcontainers' Kafka;
* otherwise the embedded Tansu broker on a free port.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from infra.broker import EmbeddedBroker, ensure_topics, free_port
from domain.settings import Settings
from tests import register_fixtures
from tests.support import unique_settings

register_settings = register_fixtures.register_settings  # a fixture, shared by tests/sinks and tests/streams


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if os.environ.get("INVOICING_TEST_BROKER") == "testcontainers" and _docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = EmbeddedBroker(port=free_port()).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No INVOICING_* setting leaks into a test from the shell or another test."""
    for key in list(os.environ):
        if key.startswith("INVOICING_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return unique_settings(tmp_path)


@pytest.fixture
async def topics_ready(settings: Settings, bootstrap: str) -> Settings:
    await ensure_topics(settings, bootstrap)
    return settings

