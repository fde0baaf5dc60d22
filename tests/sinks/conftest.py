"""Fixtures shared by the sink tests: a stand-in target server whose settings are in the environment."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator, TypeVar

import pytest

F = TypeVar("F", bound=Any)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[F], F]]:
    """``serve(fake)``: export the fake target's ``env()`` (``INVOICING_<TARGET>_*``), return it, close it after the test."""
    started: list[Any] = []

    def _serve(fake: F) -> F:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        started.append(fake)
        return fake

    yield _serve
    for fake in reversed(started):
        fake.close()


@pytest.fixture
def fake(request: pytest.FixtureRequest, serve: Callable[[Any], Any]) -> Any:
    """The served stand-in (``tests/fakes/targets/<target>.py``, ``make_fake()``) of the target under test:
    the indirect parameter when there is one, else the ``SINK`` class of the test module."""
    target = getattr(request, "param", None) or request.module.SINK.target
    return serve(importlib.import_module(f"tests.fakes.targets.{target.replace('-', '_')}").make_fake())
