"""Two transactions that take the same rows in opposite orders: PostgreSQL breaks the
deadlock by aborting one, and Database.write runs that one again instead of failing the
caller (a group commit and a cancel, say, would otherwise cost a worker's round)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Connection, insert, select, update

from imagebatch.store.db import Database
from imagebatch.store.tables import owner_turns
from tests.services import SessionDatabase

ROWS = ("probe-a", "probe-b")


def crossing(
    first: str, second: str, barrier: threading.Barrier, tries: Counter[str]
) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        tries[first] += 1
        touch = update(owner_turns).values(turn=owner_turns.c.turn + 1)
        conn.execute(touch.where(owner_turns.c.owner == first))
        if tries[first] == 1:
            barrier.wait()  # both hold their first row: each now waits for the other's
        conn.execute(touch.where(owner_turns.c.owner == second))

    return work


async def test_a_deadlocked_transaction_is_run_again(postgres: SessionDatabase) -> None:
    db = Database(postgres.fresh())
    try:
        await db.write(
            lambda conn: conn.execute(
                insert(owner_turns), [{"owner": owner, "turn": 0} for owner in ROWS]
            )
        )
        barrier, tries = threading.Barrier(2, timeout=10), Counter[str]()
        await asyncio.gather(
            db.write(crossing(*ROWS, barrier, tries)),
            db.write(crossing(*reversed(ROWS), barrier, tries)),
        )
        assert sorted(tries.values()) == [1, 2]  # one was the deadlock's victim, and ran again
        values = await db.read(lambda conn: conn.execute(select(owner_turns.c.turn)).all())
        assert [v for (v,) in values] == [2, 2]  # each transaction's two writes, once
    finally:
        await db.dispose()
