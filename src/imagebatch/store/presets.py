"""PresetRepo: prompt presets an admin curates (title, prompt text, category, order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from imagebatch.errors import NotFound
from imagebatch.store.db import Database
from imagebatch.store.tables_accounts import presets


@dataclass(frozen=True, slots=True)
class Preset:
    id: int
    title: str
    content: str
    category: str
    sort_order: int
    active: bool
    created_at: datetime
    updated_at: datetime


def _preset(row: Any) -> Preset:
    m = row._mapping
    return Preset(**{name: m[name] for name in Preset.__slots__})


def _one(conn: Connection, preset_id: int) -> Preset:
    row = conn.execute(select(presets).where(presets.c.id == preset_id)).first()
    if row is None:
        raise NotFound(f"no preset {preset_id}")
    return _preset(row)


class PresetRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ordered(self, *, active_only: bool) -> list[Preset]:
        query = select(presets).order_by(presets.c.sort_order, presets.c.id)
        if active_only:
            query = query.where(presets.c.active)
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_preset(row) for row in rows]

    async def get(self, preset_id: int) -> Preset:
        return await self.db.read(lambda conn: _one(conn, preset_id))

    async def create(self, values: dict[str, Any], now: datetime) -> Preset:
        def work(conn: Connection) -> Preset:
            preset_id = conn.execute(
                insert(presets)
                .values(**values, created_at=now, updated_at=now)
                .returning(presets.c.id)
            ).scalar_one()
            return _one(conn, preset_id)

        return await self.db.write(work)

    async def update(self, preset_id: int, values: dict[str, Any], now: datetime) -> Preset:
        def work(conn: Connection) -> Preset:
            statement = update(presets).where(presets.c.id == preset_id)
            if not conn.execute(statement.values(**values, updated_at=now)).rowcount:
                raise NotFound(f"no preset {preset_id}")
            return _one(conn, preset_id)

        return await self.db.write(work)

    async def delete(self, preset_id: int) -> None:
        def work(conn: Connection) -> None:
            if not conn.execute(delete(presets).where(presets.c.id == preset_id)).rowcount:
                raise NotFound(f"no preset {preset_id}")

        await self.db.write(work)
