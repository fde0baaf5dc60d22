"""Prometheus' own tools for the ops tests: Debian's ``prometheus`` package (promtool and prometheus)."""
from __future__ import annotations

import shutil

import pytest

__all__ = ["tool"]


def tool(name: str) -> str:
    """The path of *name* (``promtool`` or ``prometheus``); the test fails, saying how to get it, when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `apt-get install prometheus` (Debian's package has promtool and "
                    f"prometheus; .ci/run installs it when promtool is missing)", pytrace=False)
    return path
