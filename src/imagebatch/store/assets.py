"""AssetRepo: each user's library of reference images, and the access checks on images."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from imagebatch.domain.records import Image
from imagebatch.errors import NotFound
from imagebatch.store.access import can_see, grant_access
from imagebatch.store.db import Database, dialect_insert
from imagebatch.store.rows import image_from_row
from imagebatch.store.tables import images
from imagebatch.store.tables_accounts import assets


@dataclass(frozen=True, slots=True)
class Asset:
    id: int
    owner: str
    name: str
    created_at: datetime
    image: Image


def _asset(row: Any) -> Asset:
    m = row._mapping
    return Asset(
        m["asset_id"], m["owner"], m["asset_name"], m["asset_created_at"], image_from_row(row)
    )


_SELECT = select(
    assets.c.id.label("asset_id"),
    assets.c.owner,
    assets.c.name.label("asset_name"),
    assets.c.created_at.label("asset_created_at"),
    *images.c,
).join(images, images.c.id == assets.c.image_id)


class AssetRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, owner: str, image_id: int, name: str, now: datetime) -> Asset:
        """Add an image to the owner's library (adding the same image twice keeps one)."""

        def work(conn: Connection) -> Asset:
            conn.execute(
                dialect_insert(conn, assets)
                .values(owner=owner, image_id=image_id, name=name[:255], created_at=now)
                .on_conflict_do_nothing()
            )
            row = conn.execute(
                _SELECT.where(assets.c.owner == owner, assets.c.image_id == image_id)
            ).one()
            return _asset(row)

        return await self.db.write(work)

    async def library(self, owner: str, limit: int = 200, offset: int = 0) -> list[Asset]:
        query = (
            _SELECT.where(assets.c.owner == owner)
            .order_by(assets.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_asset(row) for row in rows]

    async def get(self, owner: str, asset_id: int) -> Asset:
        query = _SELECT.where(assets.c.owner == owner, assets.c.id == asset_id)
        row = await self.db.read(lambda conn: conn.execute(query).first())
        if row is None:
            raise NotFound(f"no asset {asset_id}")
        return _asset(row)

    async def delete(self, owner: str, asset_id: int) -> None:
        """Out of the library; the image stays for the batches that used it."""

        def work(conn: Connection) -> None:
            statement = delete(assets).where(assets.c.owner == owner, assets.c.id == asset_id)
            if not conn.execute(statement).rowcount:
                raise NotFound(f"no asset {asset_id}")

        await self.db.write(work)

    async def can_see(self, owner: str, image_id: int) -> bool:
        return await self.db.read(lambda conn: can_see(conn, owner, image_id))

    async def grant(self, owner: str, image_ids: list[int]) -> None:
        await self.db.write(lambda conn: grant_access(conn, owner, image_ids))
