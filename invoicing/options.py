"""Options every command shares: the broker and the topic prefix, and the settings they give."""
from __future__ import annotations

import argparse
from typing import Any

from domain.settings import Settings, load_settings

__all__ = ["DEFAULT_BOOTSTRAP", "add_common_options", "bootstrap_of", "settings_from_args"]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", help="Kafka bootstrap servers HOST:PORT (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    p.add_argument("--topic-prefix", help="prefix for every topic name")


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(bootstrap=getattr(args, "bootstrap", None), topic_prefix=getattr(args, "topic_prefix", None), **extra)


def bootstrap_of(settings: Settings) -> str:
    return settings.bootstrap or DEFAULT_BOOTSTRAP
