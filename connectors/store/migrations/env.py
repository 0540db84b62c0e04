"""Alembic environment: always given a live connection by connectors.store.migrate."""
from alembic import context

from connectors.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
