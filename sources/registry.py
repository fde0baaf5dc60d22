"""Every platform source, by webhook name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from sources.base import Source
from sources.shopify import Shopify

__all__ = ["SOURCES", "get_source_class"]

SOURCES: dict[str, type[Source]] = {
    cls.platform: cls
    for cls in (
        Shopify,
    )
}


def get_source_class(platform: str) -> type[Source] | None:
    return SOURCES.get(platform)
