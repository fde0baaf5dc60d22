"""One contract, run over every registered sink (STYLE.md §5).

Each HTTP target has a stand-in in tests/fakes/targets/<target>.py (``make_fake()``)
that checks what it receives against the platform's published shape. A target
is done when it passes this suite without the suite being edited.
"""
from __future__ import annotations

import importlib

import pkgutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import sinks
from invoicing.errors import AuthError, FatalSinkError, RetriableSinkError
from invoicing.settings import Settings, platform_settings
from sinks.base import Sink
from sinks.delivery import deliver
from sinks.registry import SINKS
from tests.support import sample_invoice

TARGETS = sorted(SINKS)
HTTP_TARGETS = [t for t in TARGETS if t not in ("folder",) and getattr(SINKS[t], "uses_http", True)]
NON_CONNECTOR_MODULES = {"base", "registry", "delivery", "auth", "resilience"}


def test_every_sink_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(Path(sinks.__file__).parent)])} - NON_CONNECTOR_MODULES
    registered = {cls.__module__.rsplit(".", 1)[1] for cls in SINKS.values()}
    assert modules <= registered, f"unregistered sink modules: {modules - registered}"


def test_every_http_target_has_a_fake() -> None:
    for target in HTTP_TARGETS:
        importlib.import_module(f"tests.fakes.targets.{target.replace('-', '_')}").make_fake


@pytest.fixture
def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    target = request.param
    module = importlib.import_module(f"tests.fakes.targets.{target.replace('-', '_')}")
    f = module.make_fake()
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    try:
        yield f
    finally:
        f.close()


def make_sink(target: str, **overrides: Any) -> Sink:
    cls = SINKS[target]
    pipeline = Settings(sink_timeout=overrides.pop("sink_timeout", 2.0), sink_backoff_base=0.01,
                        sink_backoff_max=0.05, sink_max_attempts=overrides.pop("sink_max_attempts", 3), **overrides)
    return cls(platform_settings(target, cls.settings_class), httpx.AsyncClient(timeout=pipeline.sink_timeout), pipeline)


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_same_invoice_twice_creates_one(fake: Any) -> None:
    sink = make_sink(fake.target)
    inv = sample_invoice(7, targets=(fake.target,))
    try:
        first = await deliver(sink, inv, sink.pipeline)
        second = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert first.status == "DELIVERED", first.detail
    assert second.status == "ALREADY_PRESENT", second.detail
    assert first.external_id and first.external_id == second.external_id
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_crash_after_accept_does_not_duplicate(fake: Any) -> None:
    """The target accepted, our receipt was lost: a fresh sink (a restarted worker) finds it."""
    inv = sample_invoice(8, targets=(fake.target,))
    sink = make_sink(fake.target)
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    again = make_sink(fake.target)
    try:
        result = await deliver(again, inv, again.pipeline)
    finally:
        await again.close()
    assert result.status == "ALREADY_PRESENT"
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
@pytest.mark.parametrize("status,error", [(429, RetriableSinkError), (503, RetriableSinkError), (500, RetriableSinkError),
                                          (401, AuthError), (403, AuthError), (400, FatalSinkError), (422, FatalSinkError)])
async def test_errors_map_onto_the_error_tree(fake: Any, status: int, error: type[Exception]) -> None:
    sink = make_sink(fake.target)
    inv = sample_invoice(9, targets=(fake.target,))
    fake.fail(status, times=10)
    try:
        with pytest.raises(error):
            await sink.find_invoice(inv, inv["invoice_id"])
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert not fake.created


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_retries_honour_retry_after_then_deliver(fake: Any) -> None:
    sink = make_sink(fake.target, sink_max_attempts=4)
    inv = sample_invoice(10, targets=(fake.target,))
    fake.fail(429, times=1, retry_after=0)
    fake.fail(503, times=1)
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    assert result.attempts == 3
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_timeout_then_parked_not_dropped(fake: Any) -> None:
    sink = make_sink(fake.target, sink_timeout=0.3, sink_max_attempts=2)
    inv = sample_invoice(11, targets=(fake.target,))
    fake.hang(1.0, times=50)
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "PARKED" and result.retriable
    assert "timed out" in (result.detail or "")


async def test_folder_sink_writes_once(tmp_path: Path) -> None:
    from sinks.folder import FolderSink

    sink = FolderSink(pipeline=Settings(output_dir=tmp_path))
    inv = sample_invoice(3)
    first = await deliver(sink, inv, sink.pipeline)
    second = await deliver(sink, inv, sink.pipeline)
    await sink.close()
    assert (first.status, second.status) == ("DELIVERED", "ALREADY_PRESENT")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{inv['number']}.{ext}" for ext in ("json", "pdf", "xml"))
    assert (tmp_path / f"{inv['number']}.pdf").read_bytes().startswith(b"%PDF")
    other = dict(inv, invoice_id="inv_other")
    result = await deliver(FolderSink(pipeline=Settings(output_dir=tmp_path)), other, Settings(output_dir=tmp_path))
    assert result.status == "PARKED", "a number already used by another invoice is never overwritten"

