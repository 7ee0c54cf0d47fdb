"""Who may see which image: images are shared by content, so visibility is recorded apart.

An owner sees an image when one of their tasks produced it (and the record was not deleted),
or when it was an input or reference of one of their batches, or is in their asset library.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, exists, select

from imagebatch.store.db import dialect_insert
from imagebatch.store.tables import tasks
from imagebatch.store.tables_accounts import assets, image_access


def grant_access(conn: Connection, owner: str, image_ids: Iterable[int]) -> None:
    rows = [{"image_id": i, "owner": owner} for i in dict.fromkeys(image_ids)]
    if not rows:
        return
    conn.execute(dialect_insert(conn, image_access).on_conflict_do_nothing(), rows)


def can_see(conn: Connection, owner: str, image_id: int) -> bool:
    produced = exists().where(
        tasks.c.owner == owner, tasks.c.output_image_id == image_id, tasks.c.deleted_at.is_(None)
    )
    shared = exists().where(image_access.c.owner == owner, image_access.c.image_id == image_id)
    library = exists().where(assets.c.owner == owner, assets.c.image_id == image_id)
    return bool(conn.execute(select(produced | shared | library)).scalar())
