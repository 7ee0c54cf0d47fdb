"""Ownership is by user id, never by name (issue 13, point 6).

Before, the `owner` of every batch, task, asset, key and ledger entry was the user's name, and
`imagebatch run` owned its batches by the unix account name: an API user named like that unix
account ("root", "admin") saw and downloaded the CLI's runs. Owners are now "user:<id>" for
accounts and "local:<unix name>" for CLI runs (domain/owners.py); migration 0005 rewrites old
rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from psycopg import sql

from imagebatch.domain.accounts import check_user_name
from imagebatch.domain.owners import local_owner, owner_key, user_id_of
from imagebatch.errors import InputError
from imagebatch.store.migrations import alembic_config, upgrade
from imagebatch.store.tables import batches, images, owner_turns, tasks
from imagebatch.store.tables_accounts import (
    assets,
    credit_ledger,
    image_access,
    provider_keys,
    users,
    webhook_deliveries,
)
from tests.api.conftest import Api
from tests.integration.helpers import prompts, submit
from tests.services import PG_ADMIN, SessionDatabase

OWNED = [
    batches,
    tasks,
    owner_turns,
    credit_ledger,
    assets,
    image_access,
    provider_keys,
    webhook_deliveries,
]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_owner_keys_of_accounts_and_cli_runs_never_meet() -> None:
    assert owner_key(5) == "user:5" and local_owner("root") == "local:root"
    assert user_id_of("user:5") == 5
    assert user_id_of("local:root") is None and user_id_of("root") is None
    # A user name with ':' would be a key of one space or the other: refused.
    for name in ("user:5", "local:root"):
        with pytest.raises(InputError):
            check_user_name(name)


# ---- a CLI run is not an API user's, whatever their names ----


async def test_a_cli_run_is_invisible_to_the_api_user_of_the_same_name(api: Api) -> None:
    # What `imagebatch run` submits as unix user "root", on the server's database.
    cli = await submit(api.app, prompts("cli-only secret"), owner=local_owner("root"), name="cli")
    await api.user("root")
    await api.user("boss", admin=True)
    boss = await api.login("boss")
    finished = await api.wait_batch(boss, cli.id)
    assert finished["status"] == "completed"
    [task] = (await boss.get(f"/api/batches/{cli.id}/tasks")).json()["items"]

    root = await api.login("root")
    for path in (
        f"/api/batches/{cli.id}",
        f"/api/batches/{cli.id}/tasks",
        f"/api/batches/{cli.id}/download",
        f"/api/tasks/{task['id']}",
        f"/api/images/{task['output_image_id']}",
    ):
        assert (await root.get(path)).status_code == 404, path
    assert (await root.post(f"/api/batches/{cli.id}/cancel")).status_code == 404
    assert (await root.get("/api/batches")).json()["items"] == []
    history = (await root.get("/api/records", params={"search": "secret"})).json()
    assert history["total"] == 0 and history["items"] == []

    # Root's own batch is theirs, shown with their name; the admin tells the two apart.
    created = await root.post("/api/batches", json={"prompt": "mine", "count": 1})
    assert created.status_code == 201, created.text
    own_id = created.json()["batch"]["id"]
    assert (await root.get(f"/api/batches/{own_id}")).json()["owner"] == "root"
    listed = (await boss.get("/api/admin/batches")).json()["items"]
    assert {b["id"]: b["owner"] for b in listed} == {own_id: "root", cli.id: "local:root"}


# ---- migration 0005 rewrites the owners of an existing database ----


@contextmanager
def scratch_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own: SQLite file, or a PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    session: SessionDatabase = request.getfixturevalue("postgres")  # skips without PostgreSQL
    name = f"{session.name}_m"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield session.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def fill_as_of_0004(conn: sa.Connection, owners: list[str]) -> int:
    """One row in every owned table per owner, owned by a name as 0004 stored it; alice's id."""
    alice = conn.execute(
        sa.insert(users)
        .values(name="alice", password_hash="x", role="user", created_at=NOW)
        .returning(users.c.id)
    ).scalar_one()
    image = conn.execute(
        sa.insert(images)
        .values(
            sha256="0" * 64,
            mime="image/png",
            width=1,
            height=1,
            bytes=1,
            storage_key="k",
            kind="upload",
            created_at=NOW,
        )
        .returning(images.c.id)
    ).scalar_one()
    for turn, owner in enumerate(owners):
        batch = conn.execute(
            sa.insert(batches)
            .values(
                name="b",
                owner=owner,
                mode="generate",
                provider="demo",
                model="demo",
                params={},
                status="succeeded",
                total=1,
                created_at=NOW,
            )
            .returning(batches.c.id)
        ).scalar_one()
        at_batch = {"owner": owner, "created_at": NOW}
        conn.execute(
            sa.insert(tasks).values(
                batch_id=batch,
                provider="demo",
                model="demo",
                seq=1,
                status="succeeded",
                prompt="p",
                params={},
                reference_image_ids=[],
                output_filename="o",
                request_key=f"k{turn}",
                max_attempts=1,
                **at_batch,
            )
        )
        conn.execute(sa.insert(owner_turns).values(owner=owner, turn=turn))
        conn.execute(sa.insert(credit_ledger).values(kind="grant", amount=1, **at_batch))
        conn.execute(sa.insert(assets).values(image_id=image, name="a", **at_batch))
        conn.execute(sa.insert(image_access).values(image_id=image, owner=owner))
        conn.execute(
            sa.insert(provider_keys).values(
                provider="demo", key_encrypted="x", last4="abcd", **at_batch
            )
        )
        conn.execute(
            sa.insert(webhook_deliveries).values(
                batch_id=batch,
                url="https://example.com/h",
                event="batch.succeeded",
                payload={},
                status="delivered",
                next_attempt_at=NOW,
                **at_batch,
            )
        )
    return int(alice)


def owners_of(engine: sa.Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {t.name: sorted(conn.execute(sa.select(t.c.owner)).scalars()) for t in OWNED}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0005_moves_owners_from_names_to_ids(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with scratch_database(kind, tmp_path, request) as url:
        upgrade(url, "0004")
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                alice = fill_as_of_0004(conn, ["alice", "root"])  # root: a CLI run
            upgrade(url, "0005")
            expected = sorted([f"user:{alice}", "local:root"])
            assert owners_of(engine) == {t.name: expected for t in OWNED}

            # A CLI run named like an account shared that account's rows before 0005; going
            # back merges them again, and a duplicate of a unique row goes, not the migration.
            with engine.begin() as conn:
                image = conn.execute(sa.select(images.c.id)).scalar_one()
                clash: dict[str, Any] = {"image_id": image, "name": "a", "created_at": NOW}
                conn.execute(sa.insert(assets).values(owner="local:alice", **clash))
            command.downgrade(alembic_config(url), "0004")
            assert owners_of(engine) == {t.name: ["alice", "root"] for t in OWNED}
        finally:
            engine.dispose()
