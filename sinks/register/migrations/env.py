"""Alembic environment: always online, on the connection `sinks.register.engine.migrate` passes in.

There is no alembic.ini: the script location is this folder inside the installed
package, so ``invoicing register migrate`` works wherever the package is installed.
"""
from __future__ import annotations

from alembic import context

from sinks.register.engine import VERSION_TABLE
from sinks.register.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from a hand-written alembic.ini
    raise RuntimeError("run migrations with `invoicing register migrate` (sinks.register.engine.migrate)")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
