"""ProviderJobRepo: economy mode's provider batch jobs and the tasks they hold.

A job's tasks are RUNNING under the lease owner `economy:<job id>`, whichever runner looks
after the job, so a runner that takes over a job (its predecessor died) finds them as they
were. The runner holding a job renews the job's lease and its tasks' leases together. Tasks
whose lease ran out meanwhile (returned to pending by the normal reaper) are claimed back
for their job when it is taken over; no other job may take them while theirs is unfinished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, true, update

from imagebatch.domain.records import Task
from imagebatch.domain.states import TaskStatus
from imagebatch.store.claim import ACTIVE_BATCH
from imagebatch.store.db import Database
from imagebatch.store.rows import task_from_row
from imagebatch.store.tables import batches, provider_jobs, tasks
from imagebatch.store.transitions import claim_tasks, mark_batches_started, open_attempts

UNFINISHED = ("submitting", "running")


def lease_owner(job_id: int) -> str:
    """Who leases a job's tasks: the job itself, not the process looking after it."""
    return f"economy:{job_id}"


@dataclass(frozen=True, slots=True)
class ProviderJob:
    id: int
    batch_id: int
    provider: str
    model: str
    marker: str
    status: str
    task_ids: tuple[int, ...]
    runner_id: str | None = None
    lease_until: datetime | None = None
    key_ref: str | None = None
    external_id: str | None = None
    polled_at: datetime | None = None
    error: str | None = None
    created_at: datetime | None = None

    @property
    def owner(self) -> str:
        return lease_owner(self.id)


def _job(row: Any) -> ProviderJob:
    m = row._mapping
    return ProviderJob(
        id=m["id"],
        batch_id=m["batch_id"],
        provider=m["provider"],
        model=m["model"],
        marker=m["marker"],
        status=m["status"],
        task_ids=tuple(m["task_ids"]),
        runner_id=m["runner_id"],
        lease_until=m["lease_until"],
        key_ref=m["key_ref"],
        external_id=m["external_id"],
        polled_at=m["polled_at"],
        error=m["error"],
        created_at=m["created_at"],
    )


@dataclass(frozen=True, slots=True)
class NewJob:
    batch_id: int
    provider: str
    model: str
    marker: str
    task_ids: Sequence[int]


class ProviderJobRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def candidates(self, batch_ids: Sequence[int] | None, now: datetime) -> list[Task]:
        """Pending tasks of active economy batches no unfinished job holds, in claim order."""
        held = select(provider_jobs.c.task_ids).where(provider_jobs.c.status.in_(UNFINISHED))
        scope = batches.c.id.in_(batch_ids) if batch_ids is not None else true()
        active = select(batches.c.id).where(
            batches.c.status.in_(ACTIVE_BATCH), batches.c.economy == true(), scope
        )
        query = (
            select(tasks)
            .where(
                tasks.c.status == TaskStatus.PENDING.value,
                tasks.c.batch_id.in_(active),
                or_(tasks.c.not_before.is_(None), tasks.c.not_before <= now),
            )
            .order_by(tasks.c.priority.desc(), tasks.c.id)
        )

        def work(conn: Connection) -> list[Task]:
            taken = {i for row in conn.execute(held).scalars() for i in row}
            return [t for t in map(task_from_row, conn.execute(query).all()) if t.id not in taken]

        return await self.db.read(work)

    async def create(
        self, new: NewJob, runner_id: str, lease_until: datetime, now: datetime
    ) -> tuple[ProviderJob, list[Task]] | None:
        """A job holding those of `new.task_ids` still pending (claimed in the same
        transaction), or None when none is."""

        def work(conn: Connection) -> tuple[ProviderJob, list[Task]] | None:
            values = {
                "batch_id": new.batch_id,
                "provider": new.provider,
                "model": new.model,
                "marker": new.marker,
                "status": "submitting",
                "task_ids": [],
                "runner_id": runner_id,
                "lease_until": lease_until,
                "created_at": now,
            }
            job_id = conn.execute(
                insert(provider_jobs).values(values).returning(provider_jobs.c.id)
            ).scalar_one()
            claimed = _claim(conn, job_id, list(new.task_ids), lease_until, now)
            if not claimed:
                conn.execute(delete(provider_jobs).where(provider_jobs.c.id == job_id))
                return None
            ids = [t.id for t in claimed]
            conn.execute(_where(job_id).values(task_ids=ids))
            return _get(conn, job_id), claimed

        return await self.db.write(work)

    async def unfinished(self, batch_ids: Sequence[int] | None = None) -> list[ProviderJob]:
        query = select(provider_jobs).where(provider_jobs.c.status.in_(UNFINISHED))
        if batch_ids is not None:
            query = query.where(provider_jobs.c.batch_id.in_(batch_ids))
        rows = await self.db.read(lambda conn: conn.execute(query.order_by("id")).all())
        return [_job(row) for row in rows]

    async def of_batch(self, batch_id: int) -> list[ProviderJob]:
        """Every job a batch made, oldest first."""
        query = (
            select(provider_jobs)
            .where(provider_jobs.c.batch_id == batch_id)
            .order_by(provider_jobs.c.id)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_job(row) for row in rows]

    async def take_over(
        self, job: ProviderJob, runner_id: str, lease_until: datetime, now: datetime
    ) -> list[Task] | None:
        """Make `job` ours if it still has the runner we saw; claims back its tasks that
        went back to pending meanwhile. Returns its running tasks, or None if we lost."""

        def work(conn: Connection) -> list[Task] | None:
            seen = (
                provider_jobs.c.runner_id.is_(None)
                if job.runner_id is None
                else provider_jobs.c.runner_id == job.runner_id
            )
            taken = conn.execute(
                _where(job.id)
                .where(seen, provider_jobs.c.status.in_(UNFINISHED))
                .values(runner_id=runner_id, lease_until=lease_until)
            )
            if not taken.rowcount:
                return None
            _claim(conn, job.id, list(job.task_ids), lease_until, now)
            return _running(conn, job)

        return await self.db.write(work)

    async def heartbeat(
        self, runner_id: str, jobs: Sequence[ProviderJob], until: datetime
    ) -> dict[int, set[int]]:
        """Extend our jobs' leases and their tasks'; returns each job's tasks still running
        (the others were cancelled, or taken by another runner after our lease ran out)."""

        def work(conn: Connection) -> dict[int, set[int]]:
            still: dict[int, set[int]] = {}
            for job in jobs:
                ours = conn.execute(
                    _where(job.id)
                    .where(provider_jobs.c.runner_id == runner_id)
                    .values(lease_until=until)
                )
                rows = conn.execute(
                    update(tasks)
                    .where(
                        tasks.c.lease_owner == job.owner,
                        tasks.c.status == TaskStatus.RUNNING.value,
                    )
                    .values(lease_until=until)
                    .returning(tasks.c.id)
                )
                still[job.id] = {r.id for r in rows.all()} if ours.rowcount else set()
            return still

        return await self.db.write(work)

    async def running_tasks(self, job: ProviderJob) -> list[Task]:
        return await self.db.read(lambda conn: _running(conn, job))

    async def submitted(
        self, job: ProviderJob, external_id: str, key_ref: str, now: datetime
    ) -> None:
        await self._set(
            job, status="running", external_id=external_id, key_ref=key_ref, submitted_at=now
        )

    async def polled(self, job: ProviderJob, now: datetime) -> None:
        await self._set(job, polled_at=now)

    async def finished(
        self, job: ProviderJob, status: str, error: str | None, now: datetime
    ) -> None:
        await self._set(
            job, status=status, error=error, finished_at=now, runner_id=None, lease_until=None
        )

    async def let_go(self, runner_id: str, now: datetime) -> None:
        """Our jobs may be taken over at once (we are stopping; the provider carries on)."""
        query = (
            update(provider_jobs)
            .where(provider_jobs.c.runner_id == runner_id, provider_jobs.c.status.in_(UNFINISHED))
            .values(runner_id=None, lease_until=now)
        )
        await self.db.write(lambda conn: conn.execute(query))

    async def get(self, job_id: int) -> ProviderJob:
        return await self.db.read(lambda conn: _get(conn, job_id))

    async def _set(self, job: ProviderJob, **values: Any) -> None:
        await self.db.write(lambda conn: conn.execute(_where(job.id).values(values)))


def _where(job_id: int) -> Any:
    return update(provider_jobs).where(provider_jobs.c.id == job_id)


def _get(conn: Connection, job_id: int) -> ProviderJob:
    return _job(conn.execute(select(provider_jobs).where(provider_jobs.c.id == job_id)).one())


def _claim(
    conn: Connection, job_id: int, ids: list[int], until: datetime, now: datetime
) -> list[Task]:
    if not ids:
        return []
    claimed = claim_tasks(conn, ids, lease_owner(job_id), until, now)
    if claimed:
        open_attempts(conn, claimed, lease_owner(job_id), now)
        mark_batches_started(conn, {t.batch_id for t in claimed}, now)
    return sorted(claimed, key=lambda t: t.id)


def _running(conn: Connection, job: ProviderJob) -> list[Task]:
    rows = conn.execute(
        select(tasks)
        .where(
            and_(
                tasks.c.id.in_(list(job.task_ids)),
                tasks.c.lease_owner == job.owner,
                tasks.c.status == TaskStatus.RUNNING.value,
            )
        )
        .order_by(tasks.c.id)
    )
    return [task_from_row(row) for row in rows.all()]
