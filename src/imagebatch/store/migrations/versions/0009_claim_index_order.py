"""ix_tasks_claim in the claim's order again on SQLite: (status, owner, priority DESC, id)

0002 rebuilt `tasks` on SQLite (batch "move and copy"), and Alembic recreated the index from
SQLite's reflection, which drops DESC. A claim asks for an owner's next pending tasks by
priority DESC, id; with priority ascending in the index SQLite read every pending task of the
owner and sorted them for each claim: 4.6 ms a claim with 5,000 pending, against 0.04 ms in
index order (bench/RESULTS.md, issue 17). PostgreSQL altered the table in place and kept the
order. A later SQLite migration that rebuilds `tasks` must recreate this index as well.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS: list[str | sa.TextClause] = ["status", "owner", sa.text("priority DESC"), "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_tasks_claim", table_name="tasks")
        op.create_index("ix_tasks_claim", "tasks", COLUMNS, unique=False)


def downgrade() -> None:
    """Nothing to undo: the index is as 0001 made it, and as 0008 should have had it."""
