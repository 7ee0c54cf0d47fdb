"""A big batch goes in a chunk of tasks at a time, and still all at once or not at all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from imagebatch.app import App
from imagebatch.domain.records import NewBatch, NewTask
from imagebatch.store import batches as batch_store
from imagebatch.store.batches import INSERT_CHUNK
from imagebatch.store.tables import batches, tasks
from tests.integration.helpers import prompts, submit

#: three chunks; the bad row is in the last, after two chunks went in
SIZE = INSERT_CHUNK * 2 + 10
BAD_SEQ = INSERT_CHUNK * 2 + 5


async def rows_in(app: App) -> tuple[int, int]:
    def count(conn: Any) -> tuple[int, int]:
        made = conn.execute(select(func.count()).select_from(batches)).scalar_one()
        return made, conn.execute(select(func.count()).select_from(tasks)).scalar_one()

    return await app.db.read(count)


async def test_a_batch_of_several_chunks_is_stored_whole(app: App) -> None:
    batch = await submit(app, prompts(*(f"tile {n}" for n in range(SIZE))))

    assert batch.total == SIZE
    assert await rows_in(app) == (1, SIZE)
    stored = await app.tasks.page(batch.id, limit=SIZE)
    assert [t.seq for t in stored] == list(range(SIZE))


async def test_a_row_refused_in_the_last_chunk_leaves_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch_store._task_values

    def with_a_bad_row(batch_id: int, new: NewBatch, t: NewTask, now: datetime) -> dict[str, Any]:
        row = real(batch_id, new, t, now)
        if t.seq == BAD_SEQ:
            row["output_image_id"] = 10**9  # no such image: the database refuses the row
        return row

    monkeypatch.setattr(batch_store, "_task_values", with_a_bad_row)

    with pytest.raises(IntegrityError):
        await submit(app, prompts(*(f"tile {n}" for n in range(SIZE))))

    assert await rows_in(app) == (0, 0)  # the first two chunks went back out with it
