"""The register fixture (imported by tests/conftest.py): used by the register, e-mail sink and receipts tests.

The register runs against SQLite (a file in tmp_path) and the real PostgreSQL named by
``REGISTER_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``), each
test in a schema of its own that is dropped afterwards. PostgreSQL tests are skipped
when that server does not answer.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from pydantic import SecretStr

from sinks.register.engine import dispose_all
from domain.settings import Settings

PG_DSN = os.environ.get("REGISTER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


_PG = _postgres_answers()


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def make_register_settings(backend: str, tmp_path: Path, **extra: object) -> Settings:
    if backend == "sqlite":
        return Settings(register_path=tmp_path / "register.db", output_dir=tmp_path / "out", **extra)  # type: ignore[arg-type]
    return Settings(register_dsn=SecretStr(PG_DSN), register_schema=f"reg_{uuid.uuid4().hex[:12]}",
                    output_dir=tmp_path / "out", **extra)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not _PG, reason=f"no PostgreSQL at {PG_DSN}"))])
def register_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    settings = make_register_settings(request.param, tmp_path)
    try:
        yield settings
    finally:
        dispose_all()
        if settings.register_schema:
            _drop_schema(settings.register_schema)
