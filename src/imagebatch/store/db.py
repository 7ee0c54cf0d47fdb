"""Connections, and the threads that use them.

Repositories hand the database a plain function of a SQLAlchemy Connection; it runs in a
thread, inside one transaction, and the caller awaits the result. One thread hop per
transaction instead of one per statement keeps a claim or a completion well under a
millisecond of our CPU.

SQLite allows one writer at a time, so writes run on a single writer thread with
BEGIN IMMEDIATE (store/writer.py): they queue in order instead of spinning in SQLite's busy
handler, and a claim's read-then-update cannot interleave with another write. Reads run on
their own threads beside it (WAL), except small indexed ones (read_small), which run on the
event loop. On PostgreSQL several writer threads run at once, each transaction on a
connection the pool pinged first.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from imagebatch.config import normalise_database_url
from imagebatch.store.driver import execute_text
from imagebatch.store.writer import SqliteWriter

T = TypeVar("T")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """INSERT into `table` in the connection's own dialect, which has ON CONFLICT (SQLite's
    and PostgreSQL's). Only that dialect is loaded: a SQLite command does not import
    PostgreSQL's (0.04 s)."""
    return importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}").insert(table)


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
READ_THREADS = 4
#: PostgreSQL's answers that mean "run the transaction again": deadlock detected, and a
#: serialization failure. Our writes take rows in one order, so these stay rare.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_TRIES = 3


class Database:
    def __init__(self, url: str, *, write_threads: int = 8) -> None:
        url = normalise_database_url(url)
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            ensure_parent_dir(url)
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE", 1)
            self.read_engine = _sqlite_engine(url, "BEGIN", READ_THREADS)
            # read_small()'s own connection, used only on the event loop's thread: it never
            # waits for the reader threads' connections (that would stall the loop).
            self.inline_engine = _sqlite_engine(url, "BEGIN", 1)
            self._writer: SqliteWriter | None = SqliteWriter(self.write_engine)
        else:
            self.write_engine = create_engine(
                url, pool_size=write_threads + READ_THREADS, pool_pre_ping=True
            )
            self.read_engine = self.write_engine
            self.inline_engine = self.write_engine  # unused: every read goes to a thread
            self._writer = None
        self._writers = ThreadPoolExecutor(write_threads, thread_name_prefix="db-write")
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="db-read")

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction that may write; commit on return, roll back on error."""
        if self._writer is not None:
            return await self._writer.run(work)
        return await _in_thread(self._writers, _transaction, self.write_engine, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await _in_thread(self._readers, _read_only, self.read_engine, work)

    async def read_small(self, work: Callable[[Connection], T]) -> T:
        """read() for a small indexed read (a row, a page): on SQLite it runs right here, on
        the event loop, because handing it to a thread and back costs more than the read
        (and under load waits for the GIL twice). On PostgreSQL it is a network round trip,
        so it goes to a thread like any read."""
        if self.is_sqlite:
            return _read_only(self.inline_engine, work)
        return await self.read(work)

    def write_now(self, work: Callable[[Connection], T]) -> T:
        """The same as write(), for synchronous callers (migrations, tools)."""
        if self._writer is not None:  # its thread holds the one writing connection
            return self._writer.run_now(work)
        return _transaction(self.write_engine, work)

    async def dispose(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writers.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()
        if self.is_sqlite:
            self.inline_engine.dispose()


async def _in_thread(
    pool: ThreadPoolExecutor,
    runner: Callable[[Engine, Callable[[Connection], T]], T],
    engine: Engine,
    work: Callable[[Connection], T],
) -> T:
    return await asyncio.get_running_loop().run_in_executor(pool, runner, engine, work)


def _transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """One transaction, run again when PostgreSQL aborted it to break a deadlock: `work`
    only talks to the database, so a rolled-back try leaves nothing behind."""
    for tries_left in range(TRANSACTION_TRIES - 1, -1, -1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as error:
            if not tries_left or getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                raise
    raise AssertionError("unreachable")


def _read_only(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return work(conn)


def ensure_parent_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, begin: str, pool_size: int) -> Engine:
    engine = create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        execute_text(conn, begin)  # on the driver's cursor: once a transaction

    return engine


def migration_engine(url: str) -> Engine:
    """A throwaway engine for Alembic, so migrations never hold a pooled connection."""
    url = normalise_database_url(url)
    ensure_parent_dir(url)
    return create_engine(url, poolclass=NullPool)
