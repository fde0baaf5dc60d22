"""Realistic, correctly signed platform requests for the demo, the benchmark and the tests.

`SAMPLES` maps each platform to its sample module (see `invoicing.samples.base`
for what a module defines). Every registered source has one.
"""
from __future__ import annotations

from types import ModuleType

from invoicing.samples import shopify
from invoicing.samples.base import Expected, SampleOrder, SampleRequest

__all__ = ["SAMPLES", "Expected", "SampleOrder", "SampleRequest", "settings_env"]

SAMPLES: dict[str, ModuleType] = {
    "shopify": shopify,
}


def settings_env(platform: str, secret: str) -> dict[str, str]:
    """Environment a platform's source needs to accept its samples signed with *secret*."""
    from invoicing.settings import platform_env_prefix

    env = {platform_env_prefix(platform) + "SECRET": secret}
    extra = getattr(SAMPLES[platform], "settings_env", None)
    if extra is not None:
        env.update(extra(secret))
    return env
