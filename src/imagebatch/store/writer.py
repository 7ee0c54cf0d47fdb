"""SQLite's one writer: a thread of its own, on a connection of its own, one transaction
at a time, in the order they were asked for.

Not a one-thread ThreadPoolExecutor: its hand-off (a concurrent Future with a condition
variable, chained to an asyncio future) cost ~100 µs of CPU a transaction, where a queue and
call_soon_threadsafe cost ~50. And the connection stays checked out: checking it out of the
pool and back in cost ~70 µs a transaction, more than a claim's statements. At 200 tasks a
second a worker runs about one transaction per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")


class _Job:
    """A transaction to run, and where its result goes: an asyncio future with its loop,
    or (loop None) a concurrent future."""

    __slots__ = ("future", "loop", "work")

    def __init__(
        self, work: Callable[[Connection], Any], future: Any, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self.work = work
        self.future = future
        self.loop = loop


class SqliteWriter:
    def __init__(self, engine: Engine, name: str = "db-write_0") -> None:
        self._engine = engine
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        #: the writer's connection: used by its thread only
        self._conn: Connection | None = None
        # A daemon: an app that exits without closing must not hang on this thread.
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction: committed on return, rolled back on error. Cancelled
        before the thread reaches it, it does not run (as with an executor)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, future, loop))
        return await future

    def run_now(self, work: Callable[[Connection], T]) -> T:
        """run(), for synchronous callers: waits for the writer thread."""
        future: Future[T] = Future()
        self._jobs.put(_Job(work, future, None))
        return future.result()

    def close(self) -> None:
        """Run the transactions already asked for, then close the connection and stop."""
        self._jobs.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.future.cancelled():
                continue
            try:
                result = self._transaction(job.work)
            except BaseException as error:  # delivered to the caller, as an executor would
                _deliver(job, None, error)
            else:
                _deliver(job, result, None)
        if self._conn is not None:
            self._conn.close()

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
        with self._conn.begin():
            return work(self._conn)


def _deliver(job: _Job, result: Any, error: BaseException | None) -> None:
    if job.loop is None:
        _settle(job.future, result, error)
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
        job.loop.call_soon_threadsafe(_settle, job.future, result, error)


def _settle(future: Any, result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled while the transaction ran
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
