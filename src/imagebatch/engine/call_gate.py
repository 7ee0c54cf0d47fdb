"""Which of a worker's claimed tasks may call their provider now.

A claim's transaction counts the calls in flight everywhere and grants the slots it finds
free. When calls are short, a worker also claims a few tasks ahead of need: they wait here,
leased, and take a slot the moment one of this worker's calls ends. Such a hand-over leaves
the number of calls in flight as it was, so it needs no database round trip. Refilling a
slot through the database took 4-11 ms under load: a tenth of every slot's time with 50 ms
calls. A hand-over takes microseconds.

Where a claim waits for the database, a hand-over is decided on the spot, so the counts a
claim took stay right: a task that ends and the one that takes its slot change places in the
same step of the event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace

from imagebatch.domain.records import Task
from imagebatch.store.claim import ClaimLimits, Grant
from imagebatch.store.queue import Claimed, Refill

#: tasks claimed ahead cover this many claim round trips' worth of call ends
AHEAD_COVER = 3.0
#: weight of the newest sample in the running means of call and claim times
SMOOTHING = 0.1


class CallGate:
    def __init__(self) -> None:
        self._waiting: dict[int, tuple[Task, asyncio.Future[None]]] = {}
        #: task id -> provider, for every call in flight
        self.calling: dict[int, str] = {}

    @property
    def waiting(self) -> list[Task]:
        """The tasks waiting for a slot, in the order they will get one."""
        return [task for task, _ in self._waiting.values()]

    def calls_to(self, provider: str) -> int:
        return sum(1 for p in self.calling.values() if p == provider)

    def enter(self, task: Task) -> None:
        """A claimed task joins the line; call grant() or hand_over() to let it through."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[task.id] = (task, future)

    async def wait(self, task_id: int) -> None:
        """Until this task may call its provider."""
        entry = self._waiting.get(task_id)
        if entry is not None:
            await entry[1]

    def grant(self, grant: Grant) -> None:
        """Let waiting tasks through, first come first served, into the free call slots
        (and, for a provider with a limit of its own, into its free slots)."""
        slots, free = grant.slots, dict(grant.provider_slots)
        for task, _ in list(self._waiting.values()):
            if slots <= 0:
                return
            if free.get(task.provider, 1) <= 0:
                continue
            if task.provider in free:
                free[task.provider] -= 1
            slots -= 1
            self._let_through(task)

    def hand_over(self, ended: str, may_take: Callable[[str, str], bool]) -> None:
        """A call to provider `ended` is over: its slot goes to the first waiting task that
        `may_take(its provider, ended)`."""
        for task, _ in self._waiting.values():
            if may_take(task.provider, ended):
                self._let_through(task)
                return

    def leave(self, task_id: int) -> None:
        """The task's call is over, or it ended without one."""
        self.calling.pop(task_id, None)
        entry = self._waiting.pop(task_id, None)
        if entry is not None:
            entry[1].cancel()

    def _let_through(self, task: Task) -> None:
        _, future = self._waiting.pop(task.id)
        self.calling[task.id] = task.provider
        future.set_result(None)


class AheadEstimate:
    """How many tasks to claim ahead: enough to cover the call ends expected while a claim
    makes its round trip, and none when calls are long (seconds, as real providers' are),
    so there a running task is always a call in flight."""

    def __init__(self) -> None:
        self._call: float | None = None
        self._claim: float | None = None

    def call_took(self, seconds: float) -> None:
        self._call = _smoothed(self._call, seconds)

    def claim_took(self, seconds: float) -> None:
        self._claim = _smoothed(self._claim, seconds)

    def target(self, slots: int) -> int:
        if not self._call or self._claim is None:
            return 0
        ends_per_round_trip = slots * self._claim / self._call
        return min(slots, math.floor(AHEAD_COVER * ends_per_round_trip + 0.5))


def _smoothed(mean: float | None, sample: float) -> float:
    return sample if mean is None else mean + SMOOTHING * (sample - mean)


class Slots:
    """A worker's call slots: which of its tasks call their provider, which wait for a slot,
    which are finishing (call over, output being stored and recorded), and so what the next
    claim should ask for. Everything here runs on the event loop, without awaits."""

    def __init__(self, capacity: int, claim_ahead: int | None = None) -> None:
        self.gate = CallGate()
        #: Storing and recording an output takes ~10 ms, mostly waiting for the GIL and the
        #: group commit; the call slot goes to the next task meanwhile.
        self.finishing: set[int] = set()
        self.estimate = AheadEstimate()
        self.stopping = False
        self._capacity = capacity
        self._claim_ahead = claim_ahead
        #: call slots we may fill, and the providers' own limits, as the last plan saw them
        self._allowance = capacity
        self._per_provider: dict[str, int] = {}

    def plan(self, limits: ClaimLimits, share: int | None, lease: float) -> Refill | None:
        """The claim to make now, or None. Taken in one step, so no hand-over falls
        between its counts of our tasks."""
        cap = min(self._capacity, limits.global_limit, share or limits.global_limit)
        self._allowance, self._per_provider = cap, limits.per_provider
        if self.stopping:
            return None
        # Tasks whose call is over hold no slot, up to `cap` of them: a slow store must not
        # let outputs pile up in memory.
        piled = max(0, len(self.finishing) - cap)
        slots = max(0, cap - len(self.gate.calling) - piled)
        waiting = self.gate.waiting
        wanted = self.estimate.target(cap) if self._claim_ahead is None else self._claim_ahead
        ahead = max(0, wanted - len(waiting))
        if not slots and not ahead:
            return None
        limits = replace(
            limits,
            not_calling=[*self.finishing, *(task.id for task in waiting)],
            waiting=[task.owner for task in waiting],
        )
        return Refill(slots, limits, lease, ahead)

    def join(self, claimed: Claimed) -> None:
        """Claimed tasks join the line; those the claim found slots for go through."""
        for task in claimed.tasks:
            self.finishing.discard(task.id)  # taken again after its lease ran out
            self.gate.enter(task)
        self.gate.grant(claimed.grant)

    def call_over(self, task: Task) -> None:
        """Hand the slot to a task waiting for one, if one may take it."""
        self.gate.leave(task.id)
        self.finishing.add(task.id)
        self.gate.hand_over(task.provider, self._may_take)

    def forget(self, task_id: int) -> None:
        self.finishing.discard(task_id)
        self.gate.leave(task_id)

    def _may_take(self, provider: str, ended: str) -> bool:
        """Whether a waiting task of `provider` may take the slot of a call to `ended`: the
        number of calls stays as the claims left it, unless the limits shrank meanwhile."""
        if self.stopping or len(self.gate.calling) >= self._allowance:
            return False
        limit = self._per_provider.get(provider)
        return limit is None or (provider == ended and self.gate.calls_to(provider) < limit)
