"""Opening the register database and bringing its schema to the newest revision.

* ``INVOICING_REGISTER_DSN`` unset: SQLite file ``INVOICING_REGISTER_PATH``
  (default ``invoicing-register.db`` in the working directory): embedded, zero set-up.
* ``INVOICING_REGISTER_DSN=postgresql://user:pw@host:5432/db``: PostgreSQL through
  psycopg 3; ``INVOICING_REGISTER_SCHEMA`` puts the tables in their own schema.

`open_register` runs Alembic's ``upgrade head`` once per process and database
(under a PostgreSQL advisory lock, so workers starting together do not race).
The DSN's password never appears in a log line or an error: use `describe`.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from domain.errors import ConfigError
from domain.settings import Settings

__all__ = ["open_register", "migrate", "register_url", "register_in_use", "describe", "current_revision",
           "head_revision", "dispose_all", "db_error_text", "VERSION_TABLE", "MIGRATIONS_DIR"]

VERSION_TABLE = "invoicing_register_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x1A7_0_1CE  # pg_advisory_xact_lock key for migrations

_engines: dict[tuple[str, str | None], Engine] = {}
_migrated: set[tuple[str, str | None]] = set()
_lock = threading.Lock()


def register_url(settings: Settings) -> URL:
    """The SQLAlchemy URL of the register (psycopg 3 for PostgreSQL).

    Raises:
        ConfigError: the DSN cannot be parsed (the DSN itself is not repeated).
    """
    if settings.register_dsn is None:
        return URL.create("sqlite+pysqlite", database=str(settings.register_path))
    try:
        url = make_url(settings.register_dsn.get_secret_value())
    except ArgumentError:
        raise ConfigError("INVOICING_REGISTER_DSN is not a database URL (postgresql://... or sqlite:///...)") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ConfigError(f"register: unsupported database {url.get_backend_name()!r} (PostgreSQL or SQLite)")
    return url


def describe(url: URL) -> str:
    """*url* for humans and logs, password masked."""
    return url.render_as_string(hide_password=True)


def register_in_use(settings: Settings) -> bool:
    """Whether delivery receipts (and sent e-mails) are recorded in the register.

    ``INVOICING_REGISTER_RECEIPTS`` decides when set; otherwise the register is in
    use when a DSN is given, when ``register`` is a default target, or when the
    default SQLite file already exists (the register sink creates it).
    """
    if settings.register_receipts is not None:
        return settings.register_receipts
    return (settings.register_dsn is not None or "register" in settings.default_targets
            or settings.register_path.exists())


def _key(settings: Settings) -> tuple[str, str | None]:
    return register_url(settings).render_as_string(hide_password=False), settings.register_schema


def _create_engine(url: URL, schema: str | None) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 10}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=2, max_overflow=4)


def open_register(settings: Settings, *, upgrade: bool = True) -> Engine:
    """The register's engine, created once per process; migrated to head on first use.

    Raises:
        ConfigError: bad DSN.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or migrated.
    """
    key = _key(settings)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create_engine(register_url(settings), settings.register_schema)
        if upgrade and key not in _migrated:
            migrate(engine, settings.register_schema)
            _migrated.add(key)
    return engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, schema: str | None = None, revision: str = "head") -> str | None:
    """Alembic ``upgrade`` to *revision* on *engine*; returns the revision now in force.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused.
    """
    cfg = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            if schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def dispose_all() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _migrated.clear()


def db_error_text(exc: SQLAlchemyError) -> str:
    """A short message for *exc*: the driver's first line, never the statement's parameters or the DSN."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {first[0][:300] if first else ''}"
