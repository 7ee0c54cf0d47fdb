"""Workers announce themselves: a row per process, a heartbeat every few seconds, and a
last word when they stop. The admin monitor and /api/health read it; a worker that stops
reporting is presumed dead after WORKER_SILENCE (its tasks come back through their leases)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from imagebatch import __version__
from imagebatch.engine.clock import Clock, utc_now
from imagebatch.engine.worker.loop import Worker
from imagebatch.store.workers import WorkerInfo, WorkerRepo

BEAT_SECONDS = 5.0


async def announce(
    worker: Worker, repo: WorkerRepo, stop: asyncio.Event, clock: Clock = utc_now
) -> None:
    """Register `worker`, beat until `stop`, then record that it stopped."""
    now = clock()
    await repo.register(
        WorkerInfo(
            id=worker.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=worker.options.capacity,
            running=0,
            version=__version__,
            started_at=now,
            last_seen=now,
        )
    )
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BEAT_SECONDS)
            with contextlib.suppress(Exception):  # a missed beat is not worth dying for
                await repo.beat(worker.id, worker.running, clock())
    finally:
        with contextlib.suppress(Exception):
            await repo.stopped(worker.id, clock())
