"""Alembic environment."""

from __future__ import annotations

from alembic import context

from imagebatch.store import tables_accounts  # noqa: F401  (registers its tables)
from imagebatch.store.db import migration_engine
from imagebatch.store.tables import metadata


def _not_search_index(_obj: object, name: str | None, *_: object) -> bool:
    # The prompt search index (FTS5 tables, the pg_trgm index) lives outside the metadata.
    return not (name or "").startswith(("tasks_fts", "ix_tasks_prompt_trgm"))


engine = migration_engine(context.config.attributes["database_url"])
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_not_search_index,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
