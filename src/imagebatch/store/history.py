"""HistoryRepo: a user's history of finished tasks (the API's "records"), searched by
prompt; taking entries out of it.

Search: on SQLite an FTS5 trigram index (tasks_fts, migration 0002) finds any substring of
three or more characters, Chinese included; shorter terms fall back to LIKE. On PostgreSQL
the pg_trgm GIN index serves ILIKE for the same queries. Every term must match (AND).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)

from imagebatch.domain.records import Image, Task
from imagebatch.domain.states import TaskStatus
from imagebatch.errors import NotFound
from imagebatch.store.db import Database
from imagebatch.store.rows import image_from_row, task_from_row
from imagebatch.store.tables import batches, images, tasks
from imagebatch.store.tables_accounts import assets, image_access

FINISHED = (TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value)
#: the trigram index needs terms of at least this many characters
TRIGRAM = 3


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A finished task as its owner's history shows it (one of the API's "records")."""

    task: Task
    batch_name: str
    image: Image | None
    #: the batch's name as a code when the service named it (domain/batch_names.py)
    batch_name_code: str | None = None
    batch_name_params: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What a gallery narrows history to, besides the search words (None: any)."""

    batch_id: int | None = None
    provider: str | None = None
    #: "succeeded" or "failed" (history holds finished tasks)
    status: str | None = None
    #: finished on or after this day (UTC)
    since: date | None = None
    #: finished on or before this day (UTC), the whole day included
    until: date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.batch_id is not None:
            found.append(tasks.c.batch_id == self.batch_id)
        if self.provider is not None:
            found.append(tasks.c.provider == self.provider)
        if self.status is not None:
            found.append(tasks.c.status == self.status)
        if self.since is not None:
            found.append(tasks.c.finished_at >= _midnight(self.since))
        if self.until is not None:
            found.append(tasks.c.finished_at < _midnight(self.until + timedelta(days=1)))
        return found


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def search_terms(query: str) -> list[str]:
    return [term for term in query.split() if term][:10]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matches(conn: Connection, terms: Sequence[str]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    if conn.dialect.name == "sqlite" and long_terms:
        phrase = " ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
        conditions.append(
            tasks.c.id.in_(
                select(literal_column("rowid"))
                .select_from(text("tasks_fts"))
                .where(text("tasks_fts MATCH :phrase").bindparams(phrase=phrase))
            )
        )
        terms = [t for t in terms if len(t) < TRIGRAM]
    conditions += [tasks.c.prompt.ilike(f"%{_escape_like(t)}%", escape="\\") for t in terms]
    return conditions


def _finished_tasks(conn: Connection, owner: str | None, terms: Sequence[str]) -> Select[Any]:
    query = (
        select(
            tasks,
            batches.c.name.label("batch_name"),
            batches.c.name_code.label("batch_name_code"),
            batches.c.name_params.label("batch_name_params"),
        )
        .join(batches, batches.c.id == tasks.c.batch_id)
        .where(tasks.c.deleted_at.is_(None), tasks.c.status.in_(FINISHED))
    )
    if owner is not None:
        query = query.where(tasks.c.owner == owner)
    return query.where(*_matches(conn, terms))


class HistoryRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self,
        owner: str,
        query: str,
        limit: int,
        offset: int,
        narrowed: HistoryFilter | None = None,
    ) -> tuple[list[HistoryEntry], int]:
        terms = search_terms(query)
        conditions = (narrowed or HistoryFilter()).conditions()

        def work(conn: Connection) -> tuple[list[HistoryEntry], int]:
            base = _finished_tasks(conn, owner, terms).where(*conditions)
            total = conn.scalar(select(func.count()).select_from(base.subquery())) or 0
            rows = conn.execute(base.order_by(tasks.c.id.desc()).limit(limit).offset(offset)).all()
            found = [task_from_row(row) for row in rows]
            ids = [t.output_image_id for t in found if t.output_image_id]
            outputs = {r.id: image_from_row(r) for r in _images(conn, ids)}
            return [
                HistoryEntry(
                    t,
                    row.batch_name,
                    outputs.get(t.output_image_id or 0),
                    row.batch_name_code,
                    row.batch_name_params,
                )
                for t, row in zip(found, rows, strict=True)
            ], int(total)

        return await self.db.read(work)

    async def delete(self, owner: str, task_id: int, now: datetime) -> Image | None:
        """Take a task out of its owner's history; returns its output image if nothing else
        uses it."""
        mine = (
            tasks.c.id == task_id,
            tasks.c.owner == owner,
            tasks.c.deleted_at.is_(None),
            tasks.c.status.in_(FINISHED),
        )

        def work(conn: Connection) -> Image | None:
            found = conn.execute(select(tasks.c.output_image_id).where(*mine)).first()
            if found is None:
                raise NotFound(f"no record {task_id}")
            statement = update(tasks).where(*mine).values(deleted_at=now, output_image_id=None)
            if not conn.execute(statement).rowcount:
                raise NotFound(f"no record {task_id}")  # deleted meanwhile
            return _unused(conn, found[0]) if found[0] else None

        return await self.db.write(work)

    async def delete_many(self, owner: str, task_ids: list[int], now: datetime) -> list[Image]:
        """delete() for several tasks in one transaction: NotFound (nothing deleted) if one
        of them is not in the owner's history; returns the output images nothing else uses."""
        wanted = set(task_ids)
        mine = (
            tasks.c.id.in_(wanted),
            tasks.c.owner == owner,
            tasks.c.deleted_at.is_(None),
            tasks.c.status.in_(FINISHED),
        )

        def work(conn: Connection) -> list[Image]:
            found = conn.execute(select(tasks.c.id, tasks.c.output_image_id).where(*mine)).all()
            missing = sorted(wanted - {row.id for row in found})
            if missing:
                raise NotFound(f"no record {', '.join(map(str, missing[:20]))}")
            statement = update(tasks).where(*mine).values(deleted_at=now, output_image_id=None)
            if conn.execute(statement).rowcount != len(wanted):
                raise NotFound("some of these records were deleted meanwhile")
            outputs = dict.fromkeys(row.output_image_id for row in found if row.output_image_id)
            return [image for i in outputs if (image := _unused(conn, i)) is not None]

        return await self.db.write(work)

    async def finished_before(self, cutoff: datetime, limit: int) -> list[tuple[str, int]]:
        """(owner, task id) of entries older than `cutoff`, for the retention sweep."""
        query = (
            select(tasks.c.owner, tasks.c.id)
            .where(
                tasks.c.deleted_at.is_(None),
                tasks.c.status.in_(FINISHED),
                tasks.c.finished_at < cutoff,
            )
            .order_by(tasks.c.id)
            .limit(limit)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [(row.owner, row.id) for row in rows]

    async def forget_image(self, image: Image) -> bool:
        """Delete the image row if it is still unused (checked again, in the same transaction)."""

        def work(conn: Connection) -> bool:
            if _unused(conn, image.id) is None:
                return False
            conn.execute(images.delete().where(images.c.id == image.id))
            return True

        return await self.db.write(work)


def _images(conn: Connection, ids: list[int]) -> Sequence[Any]:
    if not ids:
        return []
    return conn.execute(select(images).where(images.c.id.in_(ids))).all()


def _unused(conn: Connection, image_id: int) -> Image | None:
    """The image, if no task, asset, access grant or child image refers to it any more."""
    uses = [
        select(tasks.c.id).where(
            or_(tasks.c.output_image_id == image_id, tasks.c.input_image_id == image_id)
        ),
        select(assets.c.id).where(assets.c.image_id == image_id),
        select(image_access.c.image_id).where(image_access.c.image_id == image_id),
        select(images.c.id).where(images.c.parent_image_id == image_id),
    ]
    if any(conn.execute(use.limit(1)).first() for use in uses):
        return None
    row = conn.execute(select(images).where(images.c.id == image_id)).first()
    return image_from_row(row) if row else None
