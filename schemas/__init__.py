"""The Avro schemas of the pipeline's topics, as `.avsc` files beside this module.

A consumer needs nothing but these files and fastavro; see `domain.codec`.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["SCHEMA_DIR", "RELEASED_DIR", "schema_path", "released_versions"]

SCHEMA_DIR = Path(__file__).resolve().parent
RELEASED_DIR = SCHEMA_DIR / "released"


def schema_path(name: str) -> Path:
    """Return the path of the `.avsc` file for *name* (e.g. ``"invoice"``)."""
    return SCHEMA_DIR / f"{name}.avsc"


def released_versions(name: str) -> list[Path]:
    """The released versions of schema *name* (``released/<name>.v<N>.avsc``), oldest first."""
    return sorted(RELEASED_DIR.glob(f"{name}.v*.avsc"))
