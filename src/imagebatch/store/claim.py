"""Choosing which pending tasks to claim: within the limits, fair between owners.

Order: round-robin between owners (each free slot goes to the owner running the fewest
tasks), then priority, then first in, first out.

The limits are counted in the database, so a claim is a read (how many run now?) followed by
a write (start these). On SQLite the single writer thread and BEGIN IMMEDIATE make that pair
atomic. On PostgreSQL, under READ COMMITTED, two transactions could each count the same
running total and each fill the same free slot; SKIP LOCKED only stops them taking the same
rows. So every claim first takes a transaction-scoped advisory lock: claims take turns (one
is a few milliseconds), and each counts after the previous one committed. Candidate rows are
still locked with SKIP LOCKED, so a claim never waits on a row that another transaction (a
cancel, a completion) holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from imagebatch.domain.claims import (
    ClaimRequest,
    Grant,
    ProviderBudget,
    RunningCount,
    free_slots,
    grant_of,
    owner_load,
)
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.store.driver import Sql, execute
from imagebatch.store.tables import owner_turns

ACTIVE_BATCH = (BatchStatus.QUEUED.value, BatchStatus.RUNNING.value)
_RUNNING_TASK = f"'{TaskStatus.RUNNING.value}'"
_PENDING_TASK = f"'{TaskStatus.PENDING.value}'"
# Economy batches run as provider batch jobs (engine/economy/jobs.py), never task by task.
_ACTIVE = f"batches.status IN ({', '.join(map(repr, ACTIVE_BATCH))}) AND NOT batches.economy"
_IN_SCOPE = "AND batches.id IN :batch_ids[]"

# The claim's statements run on the driver's cursor (store/driver.py): SQLAlchemy's Python
# per statement cost ten times what SQLite spends running them.
#: calls in flight by owner and provider; the worker's tasks that hold no call slot are
#: left out here, not subtracted from the counts: one may have failed or changed hands
#: since the worker listed it
_RUNNING = Sql(
    f"""SELECT tasks.owner, tasks.provider, count(*) FROM tasks
    WHERE tasks.status = {_RUNNING_TASK}
    AND NOT (tasks.id IN :not_calling[] AND tasks.lease_owner = :worker)
    GROUP BY tasks.owner, tasks.provider"""
)
_BATCHES = f"SELECT batches.id, batches.owner, batches.status FROM batches WHERE {_ACTIVE}"
#: the active batches (few: owners come from them, not from scanning every pending task)
_ACTIVE_BATCHES = {False: Sql(_BATCHES), True: Sql(f"{_BATCHES} {_IN_SCOPE}")}


def _heads(scope: str) -> Sql:
    return Sql(
        f"""SELECT tasks.id, tasks.provider FROM tasks
        WHERE tasks.status = {_PENDING_TASK} AND tasks.owner = :owner
        AND (tasks.not_before IS NULL OR tasks.not_before <= :now)
        AND tasks.provider NOT IN :full[]
        AND tasks.batch_id IN (SELECT batches.id FROM batches WHERE {_ACTIVE} {scope})
        ORDER BY tasks.priority DESC, tasks.id LIMIT :free""",
        # rows another claim holds are skipped, never waited for
        locking="FOR UPDATE OF tasks SKIP LOCKED",
    )


#: an owner's next runnable tasks, in ix_tasks_claim's order
_HEADS = {False: _heads(""), True: _heads(_IN_SCOPE)}
#: the advisory lock every claim holds until its transaction ends; advisory lock keys are
#: per database, so other databases on the same server never contend with us
CLAIM_LOCK_KEY = 0x696D_6762  # "imgb"
_CLAIM_LOCK = Sql("SELECT pg_advisory_xact_lock(:key)")
_TURNS = select(owner_turns).where(owner_turns.c.owner.in_(bindparam("owners", expanding=True)))
_LATEST_TURN = select(func.coalesce(func.max(owner_turns.c.turn), 0))
_SET_TURN = (
    update(owner_turns).where(owner_turns.c.owner == bindparam("o")).values(turn=bindparam("t"))
)
_NEW_TURN = insert(owner_turns).values(owner=bindparam("o"), turn=bindparam("t"))


def take_claim_turn(conn: Connection) -> None:
    """Wait until no other claim is in flight (PostgreSQL; SQLite claims are already serial).

    Call it first in the claim's transaction, before anything is counted or changed."""
    if conn.dialect.name == "postgresql":
        execute(conn, _CLAIM_LOCK, {"key": CLAIM_LOCK_KEY})


@dataclass(frozen=True, slots=True)
class Picked:
    """What a claim may take: its tasks, the call slots it found free, and the batches it
    saw running (they need no marking as started: a batch started once stays started)."""

    ids: list[int] = field(default_factory=list)
    grant: Grant = field(default_factory=Grant)
    running_batches: frozenset[int] = frozenset()


def pick(conn: Connection, request: ClaimRequest, now: datetime, worker_id: str = "") -> Picked:
    """Tasks to claim: within the limits, round-robin between owners, then priority, then FIFO.

    Up to `request.slots` call slots are granted if free; the worker's waiting tasks take
    them first, new tasks the rest. `request.ahead` more are picked to wait for a slot (see
    engine/worker/call_gate.py): counted by every other claim as running, they can only make those
    claims more careful."""
    params = {"not_calling": request.not_calling, "worker": worker_id}
    running: list[RunningCount] = execute(conn, _RUNNING, params).fetchall()
    slots, provider_free = free_slots(request, running)
    grant = grant_of(slots, provider_free)
    free = max(0, slots - len(request.waiting)) + request.ahead
    if free <= 0:
        return Picked([], grant)
    budget = ProviderBudget({p: n + request.ahead for p, n in provider_free.items()})
    active = _active_batches(conn, request.limits.batch_ids)
    heads = _heads_per_owner(conn, active, free, request, budget.full(), now)
    shared = len(heads) > 1  # with one owner there is nobody to take turns with
    turns = _turns(conn, list(heads)) if shared else {}
    held = owner_load(running, request.waiting)
    picked, served = _round_robin(heads, held, turns, budget, free)
    if shared:
        _record_turns(conn, served, turns)
    started = frozenset(b for b, _, status in active if status == BatchStatus.RUNNING.value)
    return Picked(picked, grant, started)


def _turns(conn: Connection, owners: list[str]) -> dict[str, int]:
    rows = conn.execute(_TURNS, {"owners": owners})
    return {row.owner: row.turn for row in rows.all()}


def _record_turns(conn: Connection, served: list[str], turns: dict[str, int]) -> None:
    """Remember the order owners were served in, so the next claim starts with the others."""
    if not served:
        return
    latest = int(conn.execute(_LATEST_TURN).scalar() or 0)
    by_last_service = list(dict.fromkeys(reversed(served)))[::-1]
    for turn, owner in enumerate(by_last_service, start=latest + 1):
        conn.execute(_SET_TURN if owner in turns else _NEW_TURN, {"o": owner, "t": turn})


def _active_batches(
    conn: Connection, batch_ids: Sequence[int] | None
) -> list[tuple[int, str, str]]:
    """(id, owner, status) of the active batches (in scope, if given)."""
    params = {"batch_ids": batch_ids or ()}
    rows: list[tuple[int, str, str]] = execute(
        conn, _ACTIVE_BATCHES[batch_ids is not None], params
    ).fetchall()
    return rows


def _heads_per_owner(
    conn: Connection,
    active: list[tuple[int, str, str]],
    free: int,
    request: ClaimRequest,
    full: list[str],
    now: datetime,
) -> dict[str, list[tuple[int, str]]]:
    """Each active owner's next `free` runnable tasks, in the order they should run (none
    of the `full` providers)."""
    batch_ids = request.limits.batch_ids
    heads_of = _HEADS[batch_ids is not None]
    params = {"batch_ids": batch_ids or (), "now": now, "free": free, "full": full}
    heads: dict[str, list[tuple[int, str]]] = {}
    for owner in dict.fromkeys(owner for _, owner, _ in active):
        heads[owner] = execute(conn, heads_of, {**params, "owner": owner}).fetchall()
    return heads


def _round_robin(
    heads: dict[str, list[tuple[int, str]]],
    held: dict[str, int],
    turns: dict[str, int],
    budget: ProviderBudget,
    free: int,
) -> tuple[list[int], list[str]]:
    """Hand each free slot to the owner running (`held`) the fewest tasks; among equals, to
    the one served longest ago. Returns the task ids and the owners in the order they were
    served."""
    load = {owner: held.get(owner, 0) for owner in heads}
    turn = {owner: turns.get(owner, 0) for owner in heads}
    cursor = dict.fromkeys(heads, 0)
    picked: list[int] = []
    served: list[str] = []
    while len(picked) < free and load:
        owner = min(load, key=lambda o: (load[o], turn[o], o))
        queue = heads[owner]
        while cursor[owner] < len(queue):
            task_id, provider = queue[cursor[owner]]
            cursor[owner] += 1
            if budget.take(provider):
                picked.append(task_id)
                served.append(owner)
                load[owner] += 1
                turn[owner] = max(turn.values()) + 1
                break
        else:
            del load[owner]  # this owner has nothing more we can run now
    return picked, served
