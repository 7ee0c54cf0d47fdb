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
from imagebatch.domain.events import EventKind
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
        if note := folder.placement_note():
            console.print(note)
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
    # Styles, not markup: the batch's name is shown as written ("[x]" and ":x:" stay), and
    # rich's emoji table (markup's) is never loaded.
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed", style="red", markup=False),
        TextColumn("{task.fields[rate]}/min", markup=False),
        TextColumn("{task.fields[note]}", style="cyan", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        note = "waiting for the provider's batch job" if batch.economy else ""
        bar = progress.add_task(batch.name[:40], total=batch.total, failed=0, rate="–", note=note)
        loop = asyncio.get_running_loop()
        start, done_at_start, refreshed = loop.time(), batch.done, 0.0
        while not work.done():
            first = await _next_event(work, events)
            note = await _drain_events(events, folder, console, batch.id, first) or note
            if loop.time() - refreshed < TICK_SECONDS and not work.done():
                continue  # the bar is redrawn once a tick, however many events come
            refreshed = loop.time()
            current = await app.batches.get(batch.id)
            elapsed = asyncio.get_running_loop().time() - start
            rate = (current.done - done_at_start) / elapsed * 60 if elapsed > 0 else 0.0
            progress.update(
                bar, completed=current.done, failed=current.failed, rate=f"{rate:.0f}", note=note
            )


async def _next_event(work: asyncio.Task[None], events: asyncio.Queue[Event]) -> Event | None:
    """Wait for an event, the work's end or a tick, whichever comes first: a finished image
    goes into the output folder as soon as it is recorded, not at the next tick."""
    if not events.empty():
        return None
    arrival = asyncio.ensure_future(events.get())
    await asyncio.wait({work, arrival}, timeout=TICK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    if arrival.done():
        return arrival.result()
    arrival.cancel()  # an event this get() had not taken yet stays in the queue
    return None


async def _drain_events(
    events: asyncio.Queue[Event],
    folder: OutputFolder | None,
    console: Console,
    batch_id: int,
    first: Event | None = None,
) -> str | None:
    """Handle `first` and the events queued after it; returns news of the batch's provider
    job, if any."""
    note = None
    pending = [first] if first is not None else []
    while pending or not events.empty():
        event = pending.pop() if pending else events.get_nowait()
        if event.kind == EventKind.ECONOMY and event.batch_id == batch_id:
            note = f"waiting for the provider's batch job ({event.status})"
            if event.status in ("succeeded", "expired", "failed", "cancelled"):
                note = f"the provider's batch job {event.status}"
        if event.kind != EventKind.TASK or event.batch_id != batch_id or event.task_id is None:
            continue
        if event.status == "succeeded" and folder and event.output:
            await folder.export(event.output.task, event.output.image)  # no database read
        elif event.status == "succeeded" and folder:
            await folder.export_task_id(event.task_id)
        elif event.status == "failed":
            console.print(f"[red]task {event.task_id} failed:[/] {event.data.get('error')}")
    return note
