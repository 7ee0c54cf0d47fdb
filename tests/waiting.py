"""Waiting for something another task, thread or process makes true: one bounded poll.

A test that waits says what for; when the deadline passes it fails with that and the last
value it saw, instead of hanging CI or raising a bare TimeoutError. Where the code under test
offers an event to wait on, wait on that instead: polling is for state we can only look at.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

#: how long a wait may take when the caller does not say (a test's 10 s budget)
TIMEOUT = 10.0


class _NothingYet:
    def __repr__(self) -> str:
        return "nothing yet (the first look has not returned)"


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], object] = bool,
    *,
    awaiting: str,
    timeout: float = TIMEOUT,
    every: float = 0.02,
    explain: Callable[[], str] | None = None,
) -> T:
    """Look with `probe` every `every` s until `done(value)`; return that value.

    `explain` adds context to the failure (a child process's output, say)."""
    deadline = time.monotonic() + timeout
    while not done(value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(_failure(awaiting, timeout, value, explain))
        time.sleep(every)
    return value


@overload
async def wait_until_async(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], object] = ...,
    *,
    awaiting: str,
    timeout: float = ...,
    every: float = ...,
) -> T: ...
@overload
async def wait_until_async(
    probe: Callable[[], T],
    done: Callable[[T], object] = ...,
    *,
    awaiting: str,
    timeout: float = ...,
    every: float = ...,
) -> T: ...
async def wait_until_async(
    probe: Callable[[], Any],
    done: Callable[[Any], object] = bool,
    *,
    awaiting: str,
    timeout: float = TIMEOUT,
    every: float = 0.01,
) -> object:
    """As `wait_until`, in an event loop: `probe` may be a coroutine function, and the
    pauses let the other tasks run. A probe that hangs is bounded by the same deadline."""
    last: object = _NothingYet()
    try:
        async with asyncio.timeout(timeout) as within:
            while True:
                value = probe()
                last = await value if inspect.isawaitable(value) else value
                if done(last):
                    return last
                await asyncio.sleep(every)
    except TimeoutError:
        if not within.expired():
            raise  # the probe's own timeout, not ours
        raise AssertionError(_failure(awaiting, timeout, last, None)) from None


def _failure(awaiting: str, timeout: float, last: object, explain: Callable[[], str] | None) -> str:
    message = f"waited {timeout:g} s for {awaiting}; last seen: {last!r}"
    return f"{message}\n{explain()}" if explain else message
