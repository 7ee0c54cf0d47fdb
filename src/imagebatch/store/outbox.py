"""Webhook deliveries are written in the transaction that ends a batch (an outbox): a batch
can never end without its notification being recorded, and the dispatcher sends it later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from imagebatch.store.rows import batch_from_row
from imagebatch.store.tables import batches
from imagebatch.store.tables_accounts import webhook_deliveries


def enqueue_batch_ended(conn: Connection, batch_id: int, now: datetime) -> None:
    row = conn.execute(select(batches).where(batches.c.id == batch_id)).first()
    if row is None or not row.webhook_url:
        return
    batch = batch_from_row(row)
    event = f"batch.{batch.status.value}"
    payload: dict[str, Any] = {
        "event": event,
        "batch": {
            "id": batch.id,
            "name": batch.name,
            "status": batch.status.value,
            "provider": batch.provider,
            "model": batch.model,
            "total": batch.total,
            "succeeded": batch.succeeded,
            "failed": batch.failed,
            "cancelled": batch.cancelled,
            "created_at": batch.created_at.isoformat(),
            "finished_at": now.isoformat(),
        },
    }
    conn.execute(
        insert(webhook_deliveries).values(
            batch_id=batch_id,
            owner=batch.owner,
            url=row.webhook_url,
            event=event,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
