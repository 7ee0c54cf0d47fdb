"""Driving one batch to the end in this process: worker, live progress, output folder."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from imagebatch.app import App
from imagebatch.cli.outputs import OutputFolder
from imagebatch.domain.records import Batch
from imagebatch.engine.events import Event

TICK_SECONDS = 0.25


async def release_dead_local_workers(app: App) -> int:
    """Tasks leased by a process on this host that no longer exists go back to the queue now,
    instead of after their lease runs out (a killed `imagebatch run`, then the same again)."""
    dead = [owner for owner in await app.queue.lease_owners() if dead_local(owner)]
    return await app.queue.expire_leases_of(dead, app.clock())


def dead_local(owner: str) -> bool:
    """Whether a worker or runner id (host:pid:nonce) names a process of this host that
    no longer exists."""
    owner_host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return owner_host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def drive(
    app: App, batch: Batch, out: Path | None, console: Console, concurrency: int | None
) -> tuple[Batch, bool]:
    """Run the batch's tasks here until none is left (or Ctrl-C); returns (batch, interrupted)."""
    await release_dead_local_workers(app)
    folder = OutputFolder(app, out) if out else None
    stop = asyncio.Event()
    interrupted = _install_stop_signals(stop)
    if batch.economy:  # one provider batch job instead of task by task
        runner = app.economy_runner(batch_ids=[batch.id], drain=True, is_dead=dead_local)
        job = runner.run(stop)
    else:
        job = app.worker(batch_ids=[batch.id], concurrency=concurrency, drain=True).run(stop)
    async with app.events.subscribe() as events:
        work = asyncio.create_task(job)
        await _watch(app, batch, work, events, folder, console)
        await work
    if folder:
        await folder.finish(batch.id)
    return await app.batches.get(batch.id), interrupted.is_set()


def _install_stop_signals(stop: asyncio.Event) -> asyncio.Event:
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        interrupted.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return interrupted


async def _watch(
    app: App,
    batch: Batch,
    work: asyncio.Task[None],
    events: asyncio.Queue[Event],
    folder: OutputFolder | None,
    console: Console,
) -> None:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]}/min"),
        TextColumn("[cyan]{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        note = "waiting for the provider's batch job" if batch.economy else ""
        bar = progress.add_task(batch.name[:40], total=batch.total, failed=0, rate="–", note=note)
        start, done_at_start = asyncio.get_running_loop().time(), batch.done
        while not work.done():
            await asyncio.wait({work}, timeout=TICK_SECONDS)
            note = await _drain_events(events, folder, console, batch.id) or note
            current = await app.batches.get(batch.id)
            elapsed = asyncio.get_running_loop().time() - start
            rate = (current.done - done_at_start) / elapsed * 60 if elapsed > 0 else 0.0
            progress.update(
                bar, completed=current.done, failed=current.failed, rate=f"{rate:.0f}", note=note
            )


async def _drain_events(
    events: asyncio.Queue[Event], folder: OutputFolder | None, console: Console, batch_id: int
) -> str | None:
    """Handle the events so far; returns news of the batch's provider job, if any."""
    note = None
    while not events.empty():
        event = events.get_nowait()
        if event.kind == "economy" and event.batch_id == batch_id:
            note = f"waiting for the provider's batch job ({event.status})"
            if event.status in ("succeeded", "expired", "failed", "cancelled"):
                note = f"the provider's batch job {event.status}"
        if event.kind != "task" or event.batch_id != batch_id or event.task_id is None:
            continue
        if event.status == "succeeded" and folder:
            await folder.export_task_id(event.task_id)
        elif event.status == "failed":
            console.print(f"[red]task {event.task_id} failed:[/] {event.data.get('error')}")
    return note
