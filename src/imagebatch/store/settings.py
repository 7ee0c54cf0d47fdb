"""SettingsRepo: settings changed at run time (global concurrency…), shared by every worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from imagebatch.store.db import Database, dialect_insert
from imagebatch.store.tables import settings

GLOBAL_CONCURRENCY = "global_concurrency"


class SettingsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str, default: Any = None) -> Any:
        query = select(settings.c.value).where(settings.c.key == key)
        value = await self.db.read(lambda conn: conn.execute(query).scalar())
        return default if value is None else value

    async def get_many(self, keys: list[str]) -> dict[str, Any]:
        query = select(settings.c.key, settings.c.value).where(settings.c.key.in_(keys))
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return dict(rows)

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def put_many(self, values: dict[str, Any]) -> None:
        def work(conn: Connection) -> None:
            for key, value in values.items():
                statement = dialect_insert(conn, settings).values(key=key, value=value)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["key"], set_={"value": statement.excluded.value}
                    )
                )

        await self.db.write(work)
