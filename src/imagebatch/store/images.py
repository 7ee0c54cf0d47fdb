"""ImageRepo: image rows, one per distinct content (sha256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from imagebatch.domain.records import Image
from imagebatch.errors import NotFound
from imagebatch.store.db import Database
from imagebatch.store.rows import image_from_row
from imagebatch.store.tables import images


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


def _upsert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [*NewImage.__slots__, "created_at"]
    return (
        insert(images)
        .values({name: bindparam(name) for name in columns})
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(images.c.id)
    )


# Built once per dialect: every completed task runs this, and building it anew cost more of
# our CPU than the database spends on it.
_UPSERT = {dialect: _upsert_statement(dialect) for dialect in ("sqlite", "postgresql")}
_BY_SHA = select(images.c.id).where(images.c.sha256 == bindparam("sha256"))


def upsert_image(conn: Connection, image: NewImage, now: datetime) -> int:
    """The id of the row for this content, inserting it if it is new."""
    values = {name: getattr(image, name) for name in NewImage.__slots__}
    inserted = conn.execute(_UPSERT[conn.dialect.name], {**values, "created_at": now}).scalar()
    if inserted is not None:
        return int(inserted)
    return int(conn.execute(_BY_SHA, {"sha256": image.sha256}).scalar_one())


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

    async def referenced(self, sha256: str) -> bool:
        query = select(images.c.id).where(images.c.sha256 == sha256)
        return await self.db.read(lambda conn: conn.execute(query).first() is not None)
