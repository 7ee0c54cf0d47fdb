"""Alembic environment."""

from __future__ import annotations

from alembic import context

from imagebatch.store.db import migration_engine
from imagebatch.store.tables import metadata

engine = migration_engine(context.config.attributes["database_url"])
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
