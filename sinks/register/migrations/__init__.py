"""Alembic environment of the invoice register (run programmatically by `sinks.register.engine.migrate`)."""
