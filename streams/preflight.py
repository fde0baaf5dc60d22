"""What a worker checks before it consumes anything: every configured target can be built (its
credentials and settings are there) and can book as tax every (VAT category, rate) the reference
data can produce. A gap stops the worker with the variable or mapping named: an invoice is never
sent with a wrong default, and a missing credential is not found by the first delivery."""
from __future__ import annotations

import logging

import httpx

from domain.errors import ConfigError, PipelineError
from domain.reference import ReferenceData
from domain.settings import Settings
from infra.reference_store import ReferenceFollower
from sinks.base import Sink
from sinks.registry import build_sink, configured_targets

__all__ = ["check_targets", "routed_targets", "tax_gaps"]

log = logging.getLogger("streams.worker")


def routed_targets(reference: ReferenceData) -> set[str]:
    """Every target the reference data routes an invoice to (customers' targets and the defaults')."""
    out = set(reference.defaults.targets or ())
    for customer in reference.customers.values():
        out |= set(customer.targets or ())
    return out


def tax_gaps(sinks: dict[str, Sink], reference: ReferenceData) -> list[str]:
    """``"<target>: <what is missing>"`` for every tax the reference data can produce that a target cannot book."""
    taxes = reference.possible_taxes()
    return [f"{target}: {gap}" for target, sink in sorted(sinks.items()) for gap in sink.tax_mapping_gaps(taxes)]


async def check_targets(settings: Settings, bootstrap: str) -> list[str]:
    """Build every configured target and check its tax mappings against the reference data on the broker.

    Returns:
        The targets checked.

    Raises:
        ConfigError: a target lacks a credential or setting, or a tax mapping (each one named).
    """
    reference = ReferenceData()
    follower = ReferenceFollower(settings, bootstrap, reference)
    await follower.start(follow=False)  # one read, silent: the stream processors load it again when they start
    await follower.stop()
    problems: list[str] = []
    sinks: dict[str, Sink] = {}
    async with httpx.AsyncClient(timeout=settings.sink_timeout) as client:
        for target in sorted(configured_targets(settings, routed_targets(reference))):
            try:
                sinks[target] = build_sink(target, client, settings)
            except PipelineError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("the worker cannot start: " + "; ".join(problems))
        gaps = tax_gaps(sinks, reference)
        if gaps:
            raise ConfigError("the worker cannot start: targets cannot book taxes the reference data can produce "
                              "(map them, or route those customers elsewhere): " + "; ".join(gaps))
    log.info("targets checked: %s", ", ".join(sorted(sinks)) or "none")
    return sorted(sinks)
