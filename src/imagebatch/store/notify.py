"""A PostgreSQL notification channel (LISTEN/NOTIFY) between processes sharing a database.

Payloads are text of at most MAX_PAYLOAD bytes (PostgreSQL's limit is 8000). A dedicated
autocommit connection each way, outside the SQLAlchemy pools: a LISTEN connection must stay
open and idle, which pooled connections are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import psycopg
from sqlalchemy.engine import make_url

CHANNEL = "imagebatch_events"
MAX_PAYLOAD = 7900


def conninfo(database_url: str) -> str:
    """The psycopg connection string of a SQLAlchemy PostgreSQL URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgChannel:
    def __init__(self, database_url: str, channel: str = CHANNEL) -> None:
        self._conninfo = conninfo(database_url)
        self._channel = channel
        self._sender: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def send(self, payloads: Sequence[str]) -> None:
        if self._sender is None or self._sender.closed:
            self._sender = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        try:
            async with self._sender.cursor() as cursor:
                await cursor.executemany(
                    "SELECT pg_notify(%s, %s)", [(self._channel, p) for p in payloads]
                )
        except psycopg.Error:
            await self.close()  # the next send reconnects
            raise

    async def listen(self, ready: asyncio.Event | None = None) -> AsyncIterator[str]:
        """Payloads as they arrive (`ready` is set once listening); raises when the
        connection breaks."""
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            await conn.execute(
                psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self._channel))
            )
            if ready is not None:
                ready.set()
            async for notice in conn.notifies():
                yield notice.payload

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None
