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

from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, false, func, insert, or_, select, update

from imagebatch.domain.claims import (
    ClaimRequest,
    Grant,
    ProviderBudget,
    free_slots,
    grant_of,
    owner_load,
)
from imagebatch.domain.states import BatchStatus, TaskStatus
from imagebatch.store.tables import batches, owner_turns, tasks

ACTIVE_BATCH = (BatchStatus.QUEUED.value, BatchStatus.RUNNING.value)


# Statements are built once: building them costs more of our CPU than SQLite spends running them.
_RUNNING = (
    select(tasks.c.owner, tasks.c.provider, func.count())
    .where(
        tasks.c.status == TaskStatus.RUNNING.value,
        # Counted exactly here, not subtracted from the counts: a listed task may have
        # failed or changed hands since the worker listed it.
        ~and_(
            tasks.c.id.in_(bindparam("not_calling", expanding=True)),
            tasks.c.lease_owner == bindparam("worker"),
        ),
    )
    .group_by(tasks.c.owner, tasks.c.provider)
)
# Economy batches run as provider batch jobs (engine/economy/jobs.py), never task by task.
_ACTIVE = and_(batches.c.status.in_(ACTIVE_BATCH), batches.c.economy == false())
_IN_SCOPE = batches.c.id.in_(bindparam("batch_ids", expanding=True))
_OWNERS = select(batches.c.owner).where(_ACTIVE).distinct()
_OWNERS_IN_SCOPE = _OWNERS.where(_IN_SCOPE)
_RUNNABLE = (
    tasks.c.status == TaskStatus.PENDING.value,
    tasks.c.owner == bindparam("owner"),
    or_(tasks.c.not_before.is_(None), tasks.c.not_before <= bindparam("now")),
    tasks.c.provider.not_in(bindparam("full", expanding=True)),
)
_HEADS = (
    select(tasks.c.id, tasks.c.provider)
    .where(*_RUNNABLE, tasks.c.batch_id.in_(select(batches.c.id).where(_ACTIVE)))
    .order_by(tasks.c.priority.desc(), tasks.c.id)
    .limit(bindparam("free"))
)
_HEADS_IN_SCOPE = (
    select(tasks.c.id, tasks.c.provider)
    .where(*_RUNNABLE, tasks.c.batch_id.in_(select(batches.c.id).where(_ACTIVE, _IN_SCOPE)))
    .order_by(tasks.c.priority.desc(), tasks.c.id)
    .limit(bindparam("free"))
)
#: the advisory lock every claim holds until its transaction ends; advisory lock keys are
#: per database, so other databases on the same server never contend with us
CLAIM_LOCK_KEY = 0x696D_6762  # "imgb"
_CLAIM_LOCK = select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY))
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
        conn.execute(_CLAIM_LOCK)


def pick(
    conn: Connection, request: ClaimRequest, now: datetime, worker_id: str = ""
) -> tuple[list[int], Grant]:
    """Tasks to claim: within the limits, round-robin between owners, then priority, then FIFO.

    Up to `request.slots` call slots are granted if free; the worker's waiting tasks take
    them first, new tasks the rest. `request.ahead` more are picked to wait for a slot (see
    engine/worker/call_gate.py): counted by every other claim as running, they can only make those
    claims more careful."""
    params = {"not_calling": list(request.not_calling), "worker": worker_id}
    running = [(owner, provider, n) for owner, provider, n in conn.execute(_RUNNING, params)]
    slots, provider_free = free_slots(request, running)
    grant = grant_of(slots, provider_free)
    free = max(0, slots - len(request.waiting)) + request.ahead
    if free <= 0:
        return [], grant
    budget = ProviderBudget({p: n + request.ahead for p, n in provider_free.items()})
    heads = _heads_per_owner(conn, free, request, budget.full(), now)
    shared = len(heads) > 1  # with one owner there is nobody to take turns with
    turns = _turns(conn, list(heads)) if shared else {}
    held = owner_load(running, request.waiting)
    picked, served = _round_robin(heads, held, turns, budget, free)
    if shared:
        _record_turns(conn, served, turns)
    return picked, grant


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


def _heads_per_owner(
    conn: Connection,
    free: int,
    request: ClaimRequest,
    full: list[str],
    now: datetime,
) -> dict[str, list[tuple[int, str]]]:
    """Each active owner's next `free` runnable tasks, in the order they should run (none
    of the `full` providers)."""
    batch_ids = request.limits.batch_ids
    scoped = batch_ids is not None
    params: dict[str, object] = {"batch_ids": list(batch_ids or ())}
    # Owners come from the few active batches, not from scanning every pending task.
    owners = conn.execute(_OWNERS_IN_SCOPE if scoped else _OWNERS, params).scalars().all()
    head_query = _HEADS_IN_SCOPE if scoped else _HEADS
    if conn.dialect.name == "postgresql":
        head_query = head_query.with_for_update(skip_locked=True, of=tasks)
    params |= {"now": now, "free": free, "full": full}
    heads: dict[str, list[tuple[int, str]]] = {}
    for owner in owners:
        rows = conn.execute(head_query, {**params, "owner": owner}).all()
        heads[owner] = [(row.id, row.provider) for row in rows]
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
