"""The hottest fixed statements, run on the database driver's own cursor.

A worker runs about ten statements per task (its claims and group commits). SQLAlchemy's
Python around one executed statement (the compiled cache, parameter and type processing,
expanding IN lists, events, the result's metadata) cost ~100 µs of CPU; SQLite runs each of
these in 3-10 µs. At 200 tasks a second that Python was half of the engine's CPU. So these
few statements are written here once as SQL text, rendered for each dialect, and run on the
DBAPI cursor of the SQLAlchemy connection: inside the same transaction as the rest.

The text uses `:name` parameters, and `IN :name[]` or `NOT IN :name[]` for a list: one
placeholder per item on SQLite, as SQLAlchemy renders it; ANY or ALL of one array parameter
on PostgreSQL. `+column` is SQLite's way to keep its planner off that column's indexes, and
is dropped on PostgreSQL: without statistics, SQLite would answer `id IN (...) AND status =
'pending'` by walking every pending task's index entry (2.5 ms at 10,000 pending) rather
than looking the few ids up (0.02 ms). Datetimes are bound as the UTCDateTime column type
stores them, and rows are read back through `RowReader`, which converts the columns as the
table's types do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Table
from sqlalchemy.exc import DBAPIError

from imagebatch.store.tables import UTCDateTime

_LIST = re.compile(r"\b(NOT IN|IN) :(\w+)\[\]")
_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_UNARY_PLUS = re.compile(r"(?<=[\s(])\+(?=[a-z_])")


class Counts:
    """Statements run here (bench/queue.py adds them to SQLAlchemy's): counted, not timed,
    so the figure does not depend on how busy the machine is."""

    statements = 0


def _render_postgresql(text: str) -> str:
    if "%" in text:
        raise ValueError("a literal % would be read as a psycopg placeholder")

    def as_array(m: re.Match[str]) -> str:
        return f"<> ALL(:{m[2]})" if m[1] == "NOT IN" else f"= ANY(:{m[2]})"

    return _PARAM.sub(r"%(\1)s", _LIST.sub(as_array, _UNARY_PLUS.sub("", text)))


class Sql:
    """One statement's text, rendered for each dialect. `locking` (FOR UPDATE ...) goes at
    its end on PostgreSQL only: SQLite's write transactions are exclusive already."""

    __slots__ = ("_by_lengths", "_postgresql", "_sqlite", "lists")

    def __init__(self, text: str, *, locking: str = "") -> None:
        text = " ".join(text.split())
        self._sqlite = text
        self._postgresql = _render_postgresql(f"{text} {locking}".strip())
        #: the list parameters, in the order they appear
        self.lists = tuple(m[2] for m in _LIST.finditer(text))
        #: SQLite's texts by the lengths of the lists (a worker's lists stay short)
        self._by_lengths: dict[tuple[int, ...], str] = {}

    def text(self, dialect: str, lengths: tuple[int, ...] = ()) -> str:
        """The text for `dialect`; on SQLite, for lists of these lengths (in `lists` order)."""
        if dialect == "postgresql":
            return self._postgresql
        if not self.lists:
            return self._sqlite
        text = self._by_lengths.get(lengths)
        if text is None:
            text = self._by_lengths[lengths] = self._sqlite_text(lengths)
        return text

    def _sqlite_text(self, lengths: tuple[int, ...]) -> str:
        sizes = dict(zip(self.lists, lengths, strict=True))

        def items(m: re.Match[str]) -> str:
            names = ", ".join(f":{m[2]}__{i}" for i in range(sizes[m[2]]))
            return f"{m[1]} ({names})"

        return _LIST.sub(items, self._sqlite)


#: the last time bound on SQLite and its text: a transaction binds its `now` many times
_last_time: tuple[datetime, str] | None = None


def _sqlite_time(value: datetime) -> str:
    global _last_time  # a one-entry cache: the tuple swaps in one step, even across threads
    last = _last_time
    if last is not None and last[0] is value:
        return last[1]
    # as SQLAlchemy's SQLite DATETIME writes it, so stored times compare as strings
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    _last_time = (value, text)
    return text


def _postgresql_time(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)  # TIMESTAMP WITHOUT TIME ZONE, in UTC


#: how each dialect binds the parameters that need it, by their exact type
_BIND: dict[str, dict[type, Callable[[Any], Any]]] = {
    "sqlite": {datetime: _sqlite_time},
    "postgresql": {datetime: _postgresql_time, tuple: list},
}


_AS_IS = frozenset({str, int, float, bool, bytes, type(None)})


def _bound(dialect: str, params: Mapping[str, Any]) -> dict[str, Any]:
    # Per value a set lookup, and no call for the many that go as they are.
    bind = _BIND[dialect]
    bound = dict(params)
    for name, value in params.items():
        kind = type(value)
        if kind not in _AS_IS:
            convert = bind.get(kind) or next(
                (f for t, f in bind.items() if isinstance(value, t)), None
            )
            if convert is not None:
                bound[name] = convert(value)
    return bound


def execute(conn: Connection, sql: Sql, params: Mapping[str, Any]) -> Any:
    """Run `sql` in `conn`'s transaction; returns the DBAPI cursor (fetchall, rowcount)."""
    dialect = conn.dialect.name
    bound = _bound(dialect, params)
    lengths: tuple[int, ...] = ()
    if sql.lists and dialect == "sqlite":  # one placeholder per item
        lengths = tuple(len(bound[name]) for name in sql.lists)
        for name in sql.lists:
            bound.update({f"{name}__{i}": item for i, item in enumerate(bound.pop(name))})
    return _run(conn, sql.text(dialect, lengths), bound, many=False)


def executemany(conn: Connection, sql: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `sql` once per row (no result rows: neither driver returns them from a batch)."""
    if sql.lists:
        raise ValueError("executemany takes no list parameters")
    if not rows:
        return
    dialect = conn.dialect.name
    _run(conn, sql.text(dialect), [_bound(dialect, row) for row in rows], many=True)


def execute_text(conn: Connection, statement: str) -> None:
    """A statement without parameters, the same on every dialect (BEGIN IMMEDIATE)."""
    _run(conn, statement, (), many=False)


def _run(conn: Connection, statement: str, params: Any, *, many: bool) -> Any:
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    Counts.statements += 1
    try:
        if many:
            cursor.executemany(statement, params)
        else:
            cursor.execute(statement, params)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, statement, params, error, driver, cursor) from error
    return cursor


def _wrapped(
    conn: Connection, statement: str, params: Any, error: Any, driver: Any, cursor: Any
) -> Exception:
    """The driver's error as SQLAlchemy raises it (callers look for DBAPIError and its
    sqlstate); a lost connection is invalidated, so the pool does not hand it out again."""
    lost = conn.dialect.is_disconnect(error, driver, cursor)
    if lost and not conn.invalidated:
        conn.invalidate(error)
    wrapped: Exception = DBAPIError.instance(
        statement,
        params,
        error,
        conn.dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=conn.dialect,
    )
    return wrapped


def _read_sqlite_time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC)


def _sqlite_json(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _converter(column_type: Any, dialect: str) -> Callable[[Any], Any] | None:
    """What the column's SQLAlchemy type does to a value read from this driver."""
    sqlite = dialect == "sqlite"
    if isinstance(column_type, UTCDateTime):
        return _read_sqlite_time if sqlite else _utc
    if isinstance(column_type, JSON):
        return _sqlite_json if sqlite else None  # psycopg parses JSON itself
    if isinstance(column_type, Boolean):
        return _as_bool if sqlite else None
    return None


class RowReader:
    """Reads a cursor's rows of one table's columns as dicts, typed as SQLAlchemy reads them."""

    def __init__(self, table: Table) -> None:
        self._converters = {
            dialect: {
                column.name: convert
                for column in table.columns
                if (convert := _converter(column.type, dialect)) is not None
            }
            for dialect in ("sqlite", "postgresql")
        }

    def all(self, conn: Connection, cursor: Any) -> list[dict[str, Any]]:
        names = [d[0] for d in cursor.description]
        converters = self._converters[conn.dialect.name]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name, convert in converters.items():
                if name in row:
                    row[name] = convert(row[name])
        return rows
