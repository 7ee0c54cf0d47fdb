"""Several claimers at once, as several worker processes would be, never exceed the limits.

The limits are counted in the database; on PostgreSQL two claims running side by side could
each count the same running total and both fill the same free slot. Each claimer here has
its own Database (its own connections and writer threads), like a separate process.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import Connection, func, select

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.domain.claims import ClaimLimits, ClaimRequest
from imagebatch.domain.states import TaskStatus
from imagebatch.providers.demo import DemoProvider
from imagebatch.store.db import Database
from imagebatch.store.queue import QueueRepo
from imagebatch.store.tables import tasks
from tests.integration.helpers import prompts, submit

GLOBAL_LIMIT = 5
DEMO_LIMIT = 2
CLAIMERS = 6
ROUNDS = 8


def running_per_provider(conn: Connection) -> Counter[str]:
    rows = conn.execute(
        select(tasks.c.provider, func.count())
        .where(tasks.c.status == TaskStatus.RUNNING.value)
        .group_by(tasks.c.provider)
    )
    return Counter({provider: n for provider, n in rows.all()})  # noqa: C416


# One owner: nothing but the limits is shared. Two owners: the claims also record whose turn
# it was (owner_turns), which concurrent claims must not both insert.
@pytest.mark.parametrize("second_owner", ["alice", "bob"])
async def test_concurrent_claimers_never_exceed_the_limits(
    settings: Settings, second_owner: str
) -> None:
    providers = {"demo": DemoProvider(), "other": DemoProvider()}
    app = await build_app(settings, providers=providers)
    claimers = [Database(settings.resolved_database_url) for _ in range(CLAIMERS)]
    queues = [QueueRepo(db) for db in claimers]
    request = ClaimRequest(ClaimLimits(GLOBAL_LIMIT, {"demo": DEMO_LIMIT}), GLOBAL_LIMIT, 60)
    try:
        await submit(app, prompts(*(f"d{i}" for i in range(40))), provider="demo")
        await submit(
            app, prompts(*(f"o{i}" for i in range(40))), owner=second_owner, provider="other"
        )
        for _ in range(ROUNDS):
            now = app.clock()
            claims = await asyncio.gather(
                *(q.claim(f"w{n}", request, now) for n, q in enumerate(queues))
            )
            running = await app.db.read(running_per_provider)
            claimed = [t for batch in claims for t in batch.tasks]
            assert len(claimed) == len({t.id for t in claimed}) == running.total()
            # Reached (there is plenty pending) and never exceeded:
            assert running.total() == GLOBAL_LIMIT
            assert running["demo"] == DEMO_LIMIT
            for n, (queue, batch) in enumerate(zip(queues, claims, strict=True)):
                await queue.release([t.id for t in batch.tasks], f"w{n}", now)
    finally:
        for db in claimers:
            await db.dispose()
        await app.close()
