"""own by user id: every owner column holds "user:<id>" for an account, "local:<name>" for a CLI run

Until 0004 the owner was the user's name, and the CLI owned its runs by the unix account name,
so an API user named like that unix account owned the CLI's batches. An owner that equals a
user's name becomes that user's key; every other owner was a CLI run (user names never contain
':', so no old value is mistaken for either kind of key).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: each table with an owner column, and the columns unique together with the owner (None: the
#: owner is part of nothing unique)
OWNED: dict[str, tuple[str, ...] | None] = {
    "batches": None,
    "tasks": None,
    "owner_turns": (),
    "credit_ledger": None,
    "assets": ("image_id",),
    "image_access": ("image_id",),
    "provider_keys": ("provider",),
    "webhook_deliveries": None,
}

# Plain SQL that SQLite and PostgreSQL both run: || concatenates, CAST makes the id text.
_USER_KEY = "'user:' || CAST(users.id AS VARCHAR(20))"


def upgrade() -> None:
    for table in OWNED:
        op.execute(
            f"UPDATE {table} SET owner = "
            f"(SELECT {_USER_KEY} FROM users WHERE users.name = {table}.owner) "
            f"WHERE owner IN (SELECT name FROM users)"
        )
        op.execute(f"UPDATE {table} SET owner = 'local:' || owner WHERE owner NOT LIKE 'user:%'")


def downgrade() -> None:
    """Back to names. A CLI run and an account of the same name shared everything before, so
    they share it again: where both had a row that must be unique, the CLI's goes."""
    for table, unique_with in OWNED.items():
        _drop_local_duplicates(table, unique_with)
        op.execute(
            f"UPDATE {table} SET owner = "
            f"(SELECT users.name FROM users WHERE {_USER_KEY} = {table}.owner) "
            f"WHERE owner IN (SELECT {_USER_KEY} FROM users)"
        )
        op.execute(f"UPDATE {table} SET owner = substr(owner, 7) WHERE owner LIKE 'local:%'")


def _drop_local_duplicates(table: str, unique_with: tuple[str, ...] | None) -> None:
    if unique_with is None:
        return
    same = "".join(f" AND other.{c} = {table}.{c}" for c in unique_with)
    op.execute(
        f"DELETE FROM {table} WHERE owner LIKE 'local:%' AND EXISTS ("
        f"SELECT 1 FROM {table} AS other JOIN users ON other.owner = {_USER_KEY} "
        f"WHERE users.name = substr({table}.owner, 7){same})"
    )
