"""A worker checks its targets before it consumes anything (streams/preflight.py): a configured target
without its credentials, or unable to book a tax the reference data can produce, stops the worker with
the variable or mapping named; a target the reference data routes to that this deployment never
configured parks its deliveries with that reason and counts them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.errors import ConfigError
from sinks.mapping import rate_key
from infra.broker import ensure_topics
from infra.reference_store import publish_reference
from sinks.registry import configured_targets
from streams.deliver import _deliver_target
from streams.preflight import check_targets, routed_targets
from streams.topology import build
from tests.support import REPO, demo_reference, sample_invoice, settings_env, unique_settings

REFERENCE = REPO / "demo" / "data" / "reference.yaml"
XERO = {"INVOICING_XERO_CLIENT_ID": "id", "INVOICING_XERO_CLIENT_SECRET": "secret",
        "INVOICING_XERO_REFRESH_TOKEN": "refresh", "INVOICING_XERO_TENANT": "tenant-1"}


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("INVOICING_") and key not in ("INVOICING_REGISTER_DSN",):
            monkeypatch.delenv(key)


async def _prepared(tmp_path: Path, bootstrap: str, **overrides: Any) -> Any:
    settings = unique_settings(tmp_path, **overrides)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, REFERENCE)
    return settings


def test_configured_targets_are_the_defaults_and_what_reference_data_routes_to() -> None:
    settings = unique_settings(Path("/tmp"), default_targets=["folder"])
    assert configured_targets(settings) == {"folder"}
    ref = demo_reference()
    routed = routed_targets(ref)
    assert routed and routed == {t for c in ref.customers.values() for t in (c.targets or ())} | set(ref.defaults.targets or ())
    assert configured_targets(settings, routed) == {"folder"} | routed


async def test_a_configured_target_without_its_credentials_stops_the_worker_naming_them(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    settings = await _prepared(tmp_path, bootstrap, default_targets=["folder", "xero"])
    with pytest.raises(ConfigError, match="INVOICING_XERO_"):
        await check_targets(settings, bootstrap)
    # the worker process itself: it exits before consuming, with the variable named and no secret printed
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICING_")}
    env.update(settings_env(settings, bootstrap), INVOICING_DEFAULT_TARGETS='["folder","xero"]',
               INVOICING_XERO_CLIENT_SECRET="s3cret-never-printed", INVOICING_METRICS_PORT="0")
    run = subprocess.run([sys.executable, "-m", "invoicing", "worker"], env=env, cwd=str(REPO), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    assert "INVOICING_XERO_" in run.stderr and "cannot start" in run.stderr, run.stderr[-2000:]
    assert "s3cret-never-printed" not in run.stderr + run.stdout


async def test_a_configured_target_that_cannot_book_a_tax_of_the_reference_data_stops_the_worker(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    for key, value in XERO.items():
        monkeypatch.setenv(key, value)
    taxes = sorted(demo_reference().possible_taxes())
    assert len(taxes) > 1, "the demo's reference data produces several (category, rate) pairs"
    mapped = {rate_key(c, r): "OUTPUT2" for c, r in taxes[1:]}  # all but the first
    monkeypatch.setenv("INVOICING_XERO_TAX_TYPES", json.dumps(mapped))
    settings = await _prepared(tmp_path, bootstrap, default_targets=["xero"])
    with pytest.raises(ConfigError) as refused:
        await check_targets(settings, bootstrap)
    missing = rate_key(*taxes[0])
    assert f'INVOICING_XERO_TAX_TYPES has no entry "{missing}"' in str(refused.value)
    assert str(refused.value).count("INVOICING_XERO_TAX_TYPES") == 1, "only the missing mapping is named"
    # with every mapping, it starts
    mapped[missing] = "OUTPUT2"
    monkeypatch.setenv("INVOICING_XERO_TAX_TYPES", json.dumps(mapped))
    assert "xero" in await check_targets(settings, bootstrap)


async def test_a_target_routed_to_but_never_configured_parks_with_the_reason_and_is_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    p = build(unique_settings(tmp_path), "127.0.0.1:9")
    from prometheus_client import REGISTRY

    def parked_count() -> float:
        return REGISTRY.get_sample_value("invoicing_unconfigured_target_deliveries_total", {"target": "xero"}) or 0.0

    before = parked_count()
    async with httpx.AsyncClient() as client:
        p.http = client
        target, result = await _deliver_target(p, sample_invoice(7, targets=("xero",)), "xero")
    assert target == "xero" and result.status == "PARKED" and result.retriable
    assert "not configured in this deployment" in (result.detail or "") and "INVOICING_XERO_" in (result.detail or "")
    assert parked_count() == before + 1
