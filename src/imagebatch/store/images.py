"""ImageRepo: image rows, one per distinct content (sha256).

Rows are shared by content, so what a row says of an image's past (its file name, whether it was
generated, what it was made from) is whoever stored those bytes first: maybe another user. Users
therefore see an image as their own tasks and library describe it (`seen_by`), never the row's
own name, kind and parent.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from imagebatch.domain.records import Image, Task
from imagebatch.errors import NotFound
from imagebatch.store.access import can_see
from imagebatch.store.db import Database
from imagebatch.store.driver import Sql, execute
from imagebatch.store.rows import image_from_row, task_from_row
from imagebatch.store.tables import images, tasks
from imagebatch.store.tables_accounts import assets


@dataclass(frozen=True, slots=True)
class NewImage:
    sha256: str
    mime: str
    width: int
    height: int
    bytes: int
    storage_key: str
    kind: str
    original_name: str | None = None
    parent_image_id: int | None = None


_COLUMNS = (*NewImage.__slots__, "created_at")


@functools.lru_cache(maxsize=64)
def _upsert(rows: int) -> Sql:
    """One multi-row statement that returns the id of every content, new or already stored:
    DO UPDATE (a no-op rewrite of the key) because DO NOTHING returns no row for those. Run
    on the driver's cursor (store/driver.py): every completed task runs it."""
    values = ", ".join(
        "(" + ", ".join(f":{name}_{i}" for name in _COLUMNS) + ")" for i in range(rows)
    )
    return Sql(
        f"""INSERT INTO images ({", ".join(_COLUMNS)}) VALUES {values}
        ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256 RETURNING id, sha256"""
    )


def upsert_images(conn: Connection, new: Sequence[NewImage], now: datetime) -> dict[str, int]:
    """{sha256: id} of the rows for these contents, inserting those that are new."""
    # One row per content: a multi-row upsert may not touch the same row twice.
    distinct = {image.sha256: image for image in new}
    params: dict[str, Any] = {}
    for i, image in enumerate(distinct.values()):
        params |= {f"{name}_{i}": getattr(image, name) for name in NewImage.__slots__}
        params[f"created_at_{i}"] = now
    returned = execute(conn, _upsert(len(distinct)), params).fetchall()
    return {sha256: image_id for image_id, sha256 in returned}


def upsert_image(conn: Connection, image: NewImage, now: datetime) -> int:
    """The id of the row for this content, inserting it if it is new."""
    return upsert_images(conn, [image], now)[image.sha256]


# The owner's first task that made the image, and the name they gave it in their library.
_MADE_BY = (
    select(tasks.c.output_filename, tasks.c.input_image_id)
    .where(
        tasks.c.owner == bindparam("owner"),
        tasks.c.output_image_id == bindparam("image_id"),
        tasks.c.deleted_at.is_(None),
    )
    .order_by(tasks.c.id)
    .limit(1)
)
_NAMED_BY = select(assets.c.name).where(
    assets.c.owner == bindparam("owner"), assets.c.image_id == bindparam("image_id")
)


def made_by(image: Image, task: Task) -> Image:
    """The image as the output of `task`: that task's output name and input image."""
    return _output_of(image, task.output_filename, task.request.input_image)


def seen_by(conn: Connection, owner: str, image: Image) -> Image:
    """The image as `owner` knows it: the output of their own task if one made it; else an
    input, named as in their library (or nameless), made from nothing they can be shown."""
    ids = {"owner": owner, "image_id": image.id}
    made = conn.execute(_MADE_BY, ids).first()
    if made is not None:
        return _output_of(image, made.output_filename, made.input_image_id)
    name = conn.execute(_NAMED_BY, ids).scalar()
    return replace(image, kind="input", original_name=name, parent_image_id=None)


def _output_of(image: Image, name: str, parent_id: int | None) -> Image:
    return replace(image, kind="output", original_name=name, parent_image_id=parent_id)


def _get(conn: Connection, image_id: int) -> Image:
    row = conn.execute(select(images).where(images.c.id == image_id)).first()
    if row is None:
        raise NotFound(f"no image {image_id}")
    return image_from_row(row)


class ImageRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, image: NewImage, now: datetime) -> Image:
        return await self.db.write(lambda conn: _get(conn, upsert_image(conn, image, now)))

    async def get(self, image_id: int) -> Image:
        return await self.db.read(lambda conn: _get(conn, image_id))

    async def visible(self, owner: str, image_id: int) -> Image:
        """The image as `owner` sees it (`seen_by`); NotFound when they may not see it."""

        def work(conn: Connection) -> Image:
            if not can_see(conn, owner, image_id):
                raise NotFound(f"no image {image_id}")
            return seen_by(conn, owner, _get(conn, image_id))

        return await self.db.read(work)

    async def visible_many(self, owner: str, ids: list[int]) -> list[Image]:
        """visible() for several images in one read, in the order asked (each once);
        NotFound naming those the owner may not see, if any."""
        wanted = list(dict.fromkeys(ids))

        def work(conn: Connection) -> list[Image]:
            hidden = [i for i in wanted if not can_see(conn, owner, i)]
            if hidden:
                raise NotFound(f"no image {', '.join(map(str, hidden[:20]))}")
            rows = conn.execute(select(images).where(images.c.id.in_(wanted))).all()
            found = {row.id: image_from_row(row) for row in rows}
            return [seen_by(conn, owner, found[i]) for i in wanted]

        return await self.db.read(work)

    async def made_by_tasks(self, owner: str, ids: list[int]) -> dict[int, Task]:
        """{image id: the owner's first task that made it} for those of `ids` they made."""
        if not ids:
            return {}
        query = (
            select(tasks)
            .where(
                tasks.c.owner == owner,
                tasks.c.output_image_id.in_(ids),
                tasks.c.deleted_at.is_(None),
            )
            .order_by(tasks.c.id.desc())  # the first one is written last, and wins
        )

        def work(conn: Connection) -> dict[int, Task]:
            found = [task_from_row(row) for row in conn.execute(query)]
            return {task.output_image_id or 0: task for task in found}

        return await self.db.read(work)

    async def get_many(self, ids: list[int]) -> dict[int, Image]:
        if not ids:
            return {}

        def work(conn: Connection) -> dict[int, Image]:
            rows = conn.execute(select(images).where(images.c.id.in_(ids))).all()
            return {row.id: image_from_row(row) for row in rows}

        return await self.db.read(work)

    async def set_thumbnail(self, image_id: int, key: str) -> None:
        statement = update(images).where(images.c.id == image_id).values(thumbnail_key=key)
        await self.db.write(lambda conn: conn.execute(statement))

    async def referenced_keys(self, keys: list[str]) -> set[str]:
        """Those of `keys` an image row uses, as its file or its thumbnail."""
        if not keys:
            return set()
        # A file's key holds its sha256 (indexed); thumbnails have an index of their own.
        digests = [key.rsplit("/", 1)[-1].split(".", 1)[0] for key in keys]
        query = select(images.c.storage_key, images.c.thumbnail_key).where(
            or_(images.c.sha256.in_(digests), images.c.thumbnail_key.in_(keys))
        )

        def work(conn: Connection) -> set[str]:
            used = {key for row in conn.execute(query).all() for key in row if key}
            return used & set(keys)

        return await self.db.read(work)

    async def referenced(self, sha256: str) -> bool:
        query = select(images.c.id).where(images.c.sha256 == sha256)
        return await self.db.read(lambda conn: conn.execute(query).first() is not None)
