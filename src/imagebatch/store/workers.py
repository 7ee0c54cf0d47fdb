"""WorkerRepo: every worker process seen (host, pid, load, last heartbeat)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from imagebatch.store.db import Database
from imagebatch.store.tables_accounts import workers


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    concurrency: int
    running: int
    version: str
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None = None


def _info(row: Any) -> WorkerInfo:
    m = row._mapping
    return WorkerInfo(**{name: m[name] for name in WorkerInfo.__slots__})


class WorkerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, info: WorkerInfo) -> None:
        values = {name: getattr(info, name) for name in WorkerInfo.__slots__}
        await self.db.write(lambda conn: conn.execute(insert(workers).values(values)))

    async def beat(self, worker_id: str, running: int, now: datetime) -> None:
        statement = (
            update(workers).where(workers.c.id == worker_id).values(running=running, last_seen=now)
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def stopped(self, worker_id: str, now: datetime) -> None:
        statement = (
            update(workers)
            .where(workers.c.id == worker_id)
            .values(running=0, last_seen=now, stopped_at=now)
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def live_count(self, since: datetime, besides: str = "") -> int:
        """Workers other than `besides` that reported since `since` and have not stopped."""
        query = select(func.count()).where(
            workers.c.last_seen >= since,
            workers.c.stopped_at.is_(None),
            workers.c.id != besides,
        )

        def work(conn: Connection) -> int:
            return int(conn.scalar(query) or 0)

        return await self.db.read(work)

    async def seen_since(self, since: datetime) -> list[WorkerInfo]:
        """Workers that reported since `since`, running or stopped, newest first."""
        query = (
            select(workers)
            .where(workers.c.last_seen >= since)
            .order_by(workers.c.started_at.desc())
        )

        def work(conn: Connection) -> list[WorkerInfo]:
            return [_info(row) for row in conn.execute(query).all()]

        return await self.db.read(work)
