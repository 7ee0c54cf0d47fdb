"""WebhookRepo: the delivery queue the dispatcher drains, and the delivery log users read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from imagebatch.store.db import Database
from imagebatch.store.tables_accounts import webhook_deliveries as deliveries


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    batch_id: int
    owner: str
    url: str
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    response_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(**{name: m[name] for name in Delivery.__slots__})


class WebhookRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Due deliveries, each counted as an attempt and hidden for `lease` while it is sent
        (a dispatcher that dies mid-send leaves it to be tried again after the lease)."""

        def work(conn: Connection) -> list[Delivery]:
            due = (
                select(deliveries.c.id)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids))
                .values(attempts=deliveries.c.attempts + 1, next_attempt_at=now + lease)
                .returning(*deliveries.c)
            ).all()
            return [_delivery(row) for row in rows]

        return await self.db.write(work)

    async def record(
        self,
        delivery_id: int,
        *,
        status: str,
        response_status: int | None,
        error: str | None,
        next_attempt_at: datetime,
        delivered_at: datetime | None = None,
    ) -> None:
        statement = (
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(
                status=status,
                response_status=response_status,
                last_error=error,
                next_attempt_at=next_attempt_at,
                delivered_at=delivered_at,
            )
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def for_batch(self, batch_id: int) -> list[Delivery]:
        query = (
            select(deliveries).where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id)
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return [_delivery(row) for row in rows]
