"""Long passes over a big submission, a slice at a time, stepping aside between slices.

Turning 10,000 rows into tasks (specs, request keys, prices) is pure-Python work of the
order of a second. Done in one go on the event loop, it stalls every request the server is
answering meanwhile (pollers saw p99 0.5–0.7 s). Done in a thread, it would hold the GIL
against the event loop, whose SQLite reads give the GIL up and take it back at every row,
waiting up to the interpreter's switch interval (5 ms) each time. So it stays on the loop,
and lets the loop answer others after every slice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: items between two chances for the loop to answer others: ~5–15 ms of work on the slow VM
SLICE = 250


async def step_aside(done: int, every: int = SLICE) -> None:
    """Let the event loop run what is waiting, once every `every` items (`done`: how many
    items the caller has handled so far)."""
    if done % every == 0:
        await asyncio.sleep(0)


async def map_in_slices(
    work: Callable[[Sequence[T]], list[R]], items: Sequence[T], size: int = SLICE
) -> list[R]:
    """work(items) in slices of `size`, stepping aside before each; the results in order.
    `work` must treat each item on its own (nothing across a slice's edge)."""
    results: list[R] = []
    for start in range(0, len(items), size):
        await asyncio.sleep(0)
        results += work(items[start : start + size])
    return results
