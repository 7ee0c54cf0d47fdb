"""StatsRepo: the figures behind the admin dashboard and /metrics, computed in SQL so they
count every worker's work, whichever process did it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from imagebatch.domain.attempts import AttemptOutcome
from imagebatch.domain.states import TaskStatus
from imagebatch.store.db import Database
from imagebatch.store.tables import attempts, batches, images, tasks
from imagebatch.store.tables_accounts import credit_ledger, users

#: upper bounds (seconds) of the provider latency histogram
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class ProviderStats:
    provider: str
    tasks: int
    succeeded: int
    failed: int
    mean_latency_ms: float | None
    #: credits charged (micro-units)
    cost: int
    rate_limited: int


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    provider: str
    #: cumulative counts per bucket of LATENCY_BUCKETS
    buckets: tuple[int, ...]
    count: int
    total_seconds: float


def _count_by(conn: Connection, column: Any) -> dict[str, int]:
    rows = conn.execute(select(column, func.count()).group_by(column)).all()
    return {str(key): int(n) for key, n in rows}


class StatsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def totals(self) -> dict[str, int]:
        def work(conn: Connection) -> dict[str, int]:
            def count(table: Any) -> int:
                return int(conn.scalar(select(func.count()).select_from(table)) or 0)

            return {
                "batches": count(batches),
                "tasks": count(tasks),
                "images": int(
                    conn.scalar(select(func.count()).where(images.c.kind == "output")) or 0
                ),
                "users": count(users),
            }

        return await self.db.read(work)

    async def tasks_by_status(self) -> dict[str, int]:
        counts = await self.db.read(lambda conn: _count_by(conn, tasks.c.status))
        return {status.value: counts.get(status.value, 0) for status in TaskStatus}

    async def batches_by_status(self) -> dict[str, int]:
        return await self.db.read(lambda conn: _count_by(conn, batches.c.status))

    async def images_per_day(self, since: datetime) -> list[tuple[str, int]]:
        day = func.date(tasks.c.finished_at)
        query = (
            select(day, func.count())
            .where(tasks.c.status == TaskStatus.SUCCEEDED.value, tasks.c.finished_at >= since)
            .group_by(day)
            .order_by(day)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [(str(d), int(n)) for d, n in rows]

    async def providers(self) -> list[ProviderStats]:
        def work(conn: Connection) -> list[ProviderStats]:
            counts = conn.execute(
                select(
                    tasks.c.provider,
                    func.count(),
                    func.sum(case((tasks.c.status == TaskStatus.SUCCEEDED.value, 1), else_=0)),
                    func.sum(case((tasks.c.status == TaskStatus.FAILED.value, 1), else_=0)),
                ).group_by(tasks.c.provider)
            ).all()
            latency: dict[str, float] = dict(
                conn.execute(
                    select(tasks.c.provider, func.avg(attempts.c.latency_ms))
                    .join(tasks, tasks.c.id == attempts.c.task_id)
                    .where(attempts.c.outcome == AttemptOutcome.SUCCEEDED.value)
                    .group_by(tasks.c.provider)
                ).all()
            )
            limited: dict[str, int] = dict(
                conn.execute(
                    select(tasks.c.provider, func.count())
                    .join(tasks, tasks.c.id == attempts.c.task_id)
                    .where(attempts.c.error_kind == "RateLimited")
                    .group_by(tasks.c.provider)
                ).all()
            )
            cost: dict[str, int] = dict(
                conn.execute(
                    select(tasks.c.provider, func.sum(credit_ledger.c.amount))
                    .join(tasks, tasks.c.id == credit_ledger.c.task_id)
                    .where(credit_ledger.c.kind == "charge")
                    .group_by(tasks.c.provider)
                ).all()
            )
            return [
                ProviderStats(
                    provider=name,
                    tasks=int(n),
                    succeeded=int(ok or 0),
                    failed=int(bad or 0),
                    mean_latency_ms=float(latency[name]) if latency.get(name) else None,
                    cost=int(cost.get(name) or 0),
                    rate_limited=int(limited.get(name) or 0),
                )
                for name, n, ok, bad in counts
            ]

        return await self.db.read(work)

    async def latency_histograms(self) -> list[LatencyHistogram]:
        seconds = attempts.c.latency_ms / 1000.0
        bucket_sums = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
        query = (
            select(tasks.c.provider, func.count(), func.sum(seconds), *bucket_sums)
            .join(tasks, tasks.c.id == attempts.c.task_id)
            .where(attempts.c.latency_ms.is_not(None))
            .group_by(tasks.c.provider)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [
            LatencyHistogram(
                provider=row[0],
                count=int(row[1]),
                total_seconds=float(row[2] or 0.0),
                buckets=tuple(int(n or 0) for n in row[3:]),
            )
            for row in rows
        ]

    async def attempts_by_outcome(self) -> list[tuple[str, str, int]]:
        query = (
            select(tasks.c.provider, attempts.c.outcome, func.count())
            .join(tasks, tasks.c.id == attempts.c.task_id)
            .where(attempts.c.outcome.is_not(None))
            .group_by(tasks.c.provider, attempts.c.outcome)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [(str(p), str(o), int(n)) for p, o, n in rows]

    async def credits_charged(self) -> int:
        query = select(func.coalesce(func.sum(credit_ledger.c.amount), 0)).where(
            credit_ledger.c.kind == "charge"
        )
        return int(await self.db.read(lambda conn: conn.scalar(query)) or 0)
