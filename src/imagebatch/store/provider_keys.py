"""ProviderKeyRepo: users' own provider API keys (BYOK), stored encrypted by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from imagebatch.errors import NotFound
from imagebatch.store.db import Database, dialect_insert
from imagebatch.store.tables_accounts import provider_keys


@dataclass(frozen=True, slots=True)
class OwnKey:
    provider: str
    #: the key's last four characters, to tell keys apart (the key itself never leaves)
    last4: str
    created_at: datetime


class ProviderKeyRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, owner: str, provider: str, sealed: str, last4: str, now: datetime) -> None:
        def work(conn: Connection) -> None:
            statement = dialect_insert(conn, provider_keys).values(
                owner=owner, provider=provider, key_encrypted=sealed, last4=last4, created_at=now
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["owner", "provider"],
                    set_={"key_encrypted": sealed, "last4": last4, "created_at": now},
                )
            )

        await self.db.write(work)

    async def sealed(self, owner: str, provider: str) -> str | None:
        query = select(provider_keys.c.key_encrypted).where(
            provider_keys.c.owner == owner, provider_keys.c.provider == provider
        )
        value: str | None = await self.db.read(lambda conn: conn.execute(query).scalar())
        return value

    async def of_owner(self, owner: str) -> list[OwnKey]:
        query = (
            select(provider_keys.c.provider, provider_keys.c.last4, provider_keys.c.created_at)
            .where(provider_keys.c.owner == owner)
            .order_by(provider_keys.c.provider)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [OwnKey(row.provider, row.last4, row.created_at) for row in rows]

    async def delete(self, owner: str, provider: str) -> None:
        def work(conn: Connection) -> None:
            statement = delete(provider_keys).where(
                provider_keys.c.owner == owner, provider_keys.c.provider == provider
            )
            if not conn.execute(statement).rowcount:
                raise NotFound(f"no own key for {provider}")

        await self.db.write(work)
