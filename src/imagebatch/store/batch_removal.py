"""Deleting a finished batch: its rows go in one transaction, its images after (by the caller).

The batch row's delete cascades to its tasks, their attempts, its provider jobs and webhook
deliveries. The credit ledger is append-only: its lines stay, and their batch_id becomes NULL
(the foreign key's ON DELETE SET NULL); amounts, owner, task id and note are untouched, so
balances and every sum over the ledger still add up.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, String, cast, select

from imagebatch.domain.records import Batch, Image
from imagebatch.errors import IllegalTransition, NotFound
from imagebatch.store.db import Database
from imagebatch.store.rows import batch_from_row, image_from_row
from imagebatch.store.tables import batches, images, tasks
from imagebatch.store.tables_accounts import image_access


class BatchRemoval:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def delete(self, batch_id: int) -> tuple[Batch, list[Image]]:
        """Delete a finished (or cancelled) batch; returns it and the images its tasks used,
        outputs first: each is deleted later only if nothing else uses it then."""
        return await self.db.write(lambda conn: _delete(conn, batch_id))


def _delete(conn: Connection, batch_id: int) -> tuple[Batch, list[Image]]:
    # Locked: a retry or resume in flight waits, or has already made it unfinished.
    row = conn.execute(select(batches).where(batches.c.id == batch_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    batch = batch_from_row(row)
    if not batch.status.terminal:
        raise IllegalTransition(
            f"batch {batch_id} is {batch.status.value}; cancel it first, then delete it",
            code="batch_state",
            params={"id": batch_id, "status": batch.status.value, "to": "deleted"},
        )
    used = conn.execute(
        select(tasks.c.output_image_id, tasks.c.input_image_id, tasks.c.reference_image_ids)
        .where(tasks.c.batch_id == batch_id)
        .order_by(tasks.c.id)
    ).all()
    outputs = [r.output_image_id for r in used if r.output_image_id]
    inputs = [r.input_image_id for r in used if r.input_image_id]
    inputs += [int(i) for r in used for i in (r.reference_image_ids or ())]
    conn.execute(batches.delete().where(batches.c.id == batch_id))
    _revoke_unused_grants(conn, batch.owner, set(inputs))
    ordered = list(dict.fromkeys([*outputs, *inputs]))  # a child before its parent
    rows = conn.execute(select(images).where(images.c.id.in_(ordered))).all()
    found = {row.id: image_from_row(row) for row in rows}
    return batch, [found[i] for i in ordered if i in found]


def _revoke_unused_grants(conn: Connection, owner: str, image_ids: Iterable[int]) -> None:
    """The owner was let see the batch's inputs and references for its sake: with it gone,
    they no longer may, unless another of their batches still uses them."""
    ids = set(image_ids)
    if not ids:
        return
    as_input = conn.execute(
        select(tasks.c.input_image_id).where(
            tasks.c.owner == owner, tasks.c.input_image_id.in_(ids)
        )
    ).scalars()
    still = set(as_input)
    # References are a JSON list per task: only the owner's tasks that have any are read.
    with_references = conn.execute(
        select(tasks.c.reference_image_ids).where(
            tasks.c.owner == owner, cast(tasks.c.reference_image_ids, String) != "[]"
        )
    ).scalars()
    still |= {int(i) for refs in with_references for i in (refs or ()) if int(i) in ids}
    gone = ids - still
    if gone:
        conn.execute(
            image_access.delete().where(
                image_access.c.owner == owner, image_access.c.image_id.in_(gone)
            )
        )
