"""Every target system, by name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from sinks.base import Sink
from sinks.folder import FolderSink

__all__ = ["SINKS", "get_sink_class"]

SINKS: dict[str, type[Sink]] = {
    cls.target: cls
    for cls in (
        FolderSink,
    )
}


def get_sink_class(target: str) -> type[Sink] | None:
    return SINKS.get(target)
