"""Alembic environment of the invoice register (run programmatically by `invoicing.register.engine.migrate`)."""
