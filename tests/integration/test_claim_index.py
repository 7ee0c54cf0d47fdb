"""The claim's index serves the claim's order, so no claim sorts every pending task.

A claim asks for an owner's next pending tasks by priority DESC, id. SQLite lost the DESC of
ix_tasks_claim when 0002 rebuilt `tasks` (0009 puts it back): each claim then read and sorted
all the owner's pending tasks, 4.6 ms at 5,000 pending against 0.04 ms in index order.
"""

from __future__ import annotations

from sqlalchemy import text

from imagebatch.config import Settings
from imagebatch.store.db import migration_engine
from imagebatch.store.migrations import upgrade

NEXT_TASKS = (
    "SELECT id FROM tasks WHERE status = 'pending' AND owner = 'local:someone' "
    "ORDER BY priority DESC, id LIMIT 10"
)
SQLITE_INDEX = "SELECT sql FROM sqlite_master WHERE name = 'ix_tasks_claim'"
POSTGRES_INDEX = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_claim'"


def test_the_claim_index_keeps_priority_descending(settings: Settings) -> None:
    url = settings.resolved_database_url
    upgrade(url)
    engine = migration_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            definition = conn.execute(text(SQLITE_INDEX if sqlite else POSTGRES_INDEX)).scalar()
            plan = conn.execute(text(f"EXPLAIN QUERY PLAN {NEXT_TASKS}")).all() if sqlite else []
    finally:
        engine.dispose()
    assert "priority DESC" in str(definition)
    if sqlite:  # SQLite's planner is predictable even on an empty table
        steps = " | ".join(str(row[-1]) for row in plan)
        assert "ix_tasks_claim" in steps and "TEMP B-TREE" not in steps, steps
