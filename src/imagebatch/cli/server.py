"""`imagebatch serve` and `imagebatch worker`: the multi-user server and its queue workers
(its accounts: cli/users.py)."""

from __future__ import annotations

import gc
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

# The web stack, uvloop, asyncio and the app are imported when a command here runs: the
# CLI's other commands (and `imagebatch --help`) do not pay for them.
if TYPE_CHECKING:
    from imagebatch.app import App
    from imagebatch.store.queue import ClaimStats

console = Console()
err = Console(stderr=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[
        bool, typer.Option(help="Run queue workers in this process (--no-workers: API only).")
    ] = True,
) -> None:
    """Run the web UI and REST API (OpenAPI at /docs), with workers inside by default."""
    import asyncio

    import uvloop

    # uvloop: uvicorn would pick it itself, but here the loop is ours (workers share it).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(host, port, workers))


async def _serve(host: str, port: int, workers: bool) -> None:
    import uvicorn

    from imagebatch.api.server import create_server
    from imagebatch.app import build_app
    from imagebatch.settings_loader import load_settings
    from imagebatch.web import install_web

    settings = load_settings()
    app = await build_app(settings)
    try:
        await _first_admin(app)
        server = create_server(app, workers=workers and settings.serve_workers, extra=install_web)
        freeze_startup_objects()
        config = uvicorn.Config(
            server,
            host=host,
            port=port,
            # The app reads X-Forwarded-* itself, from IMAGEBATCH_FORWARDED_ALLOW_IPS only;
            # uvicorn's own handling would believe any local process by default.
            proxy_headers=False,
            log_level="info",
            timeout_graceful_shutdown=30,
        )
        console.print(f"imagebatch on http://{host}:{port} (web UI; API docs at /docs)")
        await uvicorn.Server(config).serve()
    finally:
        await app.close()


async def _first_admin(app: App) -> None:
    """With no users yet, create `admin`; print its password once if we made it up."""
    given = app.settings.admin_password
    generated = await app.accounts.bootstrap_admin(given.get_secret_value() if given else None)
    if generated:
        console.print(
            "[bold]First start: created user 'admin' with password "
            f"[yellow]{generated}[/] (shown once; change it after logging in).[/]"
        )
    elif given is not None and await app.users.count() == 1:
        console.print(
            "First start: created user 'admin' (password from IMAGEBATCH_ADMIN_PASSWORD)."
        )


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1000,
            help="Most tasks this process runs at once; the global limit still holds "
            "across all workers together.",
        ),
    ] = None,
) -> None:
    """Run a queue worker only (no API): scale out with as many as you like, anywhere."""
    import asyncio

    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_work(concurrency))


async def _work(capacity: int | None) -> None:
    import asyncio

    from imagebatch.app import build_app
    from imagebatch.settings_loader import load_settings

    app = await build_app(load_settings())
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        worker = app.worker(
            capacity=capacity, grace_seconds=app.settings.worker_grace_seconds, fair_share=True
        )
        console.print(f"worker {worker.id} started (at most {worker.options.capacity} at once)")
        await app.run_relayed(stop, lambda s: app.run_worker(worker, s))
        report = _claim_report(app.queue.claim_stats)
        console.print(f"worker {worker.id} stopped; {report}", soft_wrap=True)
    finally:
        await app.close()


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, schemas, compiled statements: ~200,000 objects) out
    of the garbage collector's full passes, which otherwise walk all of them and stalled every
    request in flight for 50-150 ms each time (seen in bench/api.py); and turn the collector
    back on (cli.main.main keeps it off while starting)."""
    gc.collect()
    gc.freeze()
    gc.enable()


def _claim_report(stats: ClaimStats) -> str:
    """How much claiming cost (bench/scale.py reads this line)."""
    per_task = stats.seconds * 1000 / stats.tasks if stats.tasks else 0.0
    return (
        f"claimed {stats.tasks} task(s) in {stats.claims} claim(s), {stats.seconds:.3f} s "
        f"({stats.waiting:.3f} s waiting for the claim turn), {per_task:.2f} ms per task"
    )
