"""The statements run on the driver's cursor (store/driver.py) read and write what SQLAlchemy
would: the same stored times, typed rows back, its errors; and on SQLite a claim looks its
few ids up rather than walking every pending task."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, MetaData, Table, insert, select
from sqlalchemy.exc import DBAPIError

from imagebatch.store.db import Database
from imagebatch.store.driver import RowReader, Sql, execute
from imagebatch.store.migrations import upgrade
from imagebatch.store.tables import UTCDateTime, settings
from imagebatch.store.transitions import CLAIM

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: the tricky case


def test_lists_expand_on_sqlite_and_become_arrays_on_postgresql() -> None:
    sql = Sql("SELECT 1 FROM t WHERE +t.s = 'x' AND t.id IN :ids[] AND t.p NOT IN :no[]")
    assert sql.text("sqlite", (2, 0)) == (
        "SELECT 1 FROM t WHERE +t.s = 'x' AND t.id IN (:ids__0, :ids__1) AND t.p NOT IN ()"
    )
    assert sql.text("postgresql") == (
        "SELECT 1 FROM t WHERE t.s = 'x' AND t.id = ANY(%(ids)s) AND t.p <> ALL(%(no)s)"
    )


async def test_times_and_rows_read_back_as_sqlalchemy_writes_them(
    database_url: str, tmp_path: Path
) -> None:
    db = Database(database_url or f"sqlite:///{tmp_path}/x.db")
    if db.is_sqlite:
        upgrade(db.url)  # the PostgreSQL session database is migrated already
    probe = Table("probe", MetaData(), Column("at", UTCDateTime), prefixes=["TEMPORARY"])

    def work(conn: Connection) -> tuple[int, list[datetime], list[dict[str, object]]]:
        probe.create(conn)
        conn.execute(insert(probe).values(at=WHEN))
        execute(conn, Sql("INSERT INTO probe (at) VALUES (:at)"), {"at": WHEN})
        [(same,)] = execute(conn, Sql("SELECT count(*) FROM probe WHERE at = :at"), {"at": WHEN})
        stored = list(conn.execute(select(probe.c.at)).scalars())
        conn.execute(insert(settings).values(key="k", value={"when": 1}))
        query = Sql("SELECT key, value FROM settings WHERE key = 'k'")
        return same, stored, RowReader(settings).all(conn, execute(conn, query, {}))

    try:
        same, stored, rows = await db.write(work)
    finally:
        await db.dispose()
    assert same == 2  # stored alike, whoever wrote it
    assert stored == [WHEN, WHEN]
    assert rows == [{"key": "k", "value": {"when": 1}}]


async def test_driver_errors_are_sqlalchemy_errors(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url or f"sqlite:///{tmp_path}/x.db")
    try:
        with pytest.raises(DBAPIError):
            await db.write(lambda conn: execute(conn, Sql("SELECT * FROM no_such_table"), {}))
        assert await db.write(lambda conn: execute(conn, Sql("SELECT 1"), {}).fetchall()) == [(1,)]
    finally:
        await db.dispose()


async def test_a_claim_looks_its_ids_up_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        upgrade(db.url)
        text = CLAIM.text("sqlite", (3,))
        plan = await db.read(
            lambda conn: conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {text}",
                {"ids__0": 1, "ids__1": 2, "ids__2": 3, "worker": "w", "until": "", "now": ""},
            ).all()
        )
    finally:
        await db.dispose()
    steps = " | ".join(str(row[-1]) for row in plan)
    assert "PRIMARY KEY" in steps, steps
