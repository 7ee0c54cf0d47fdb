"""`imagebatch` commands. Exit codes: 0 all succeeded, 1 some failed, 2 invalid input."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from imagebatch.cli.opening import Local, full_app, local_store
from imagebatch.cli.server import serve, worker
from imagebatch.cli.users import users_cli
from imagebatch.errors import ConfigurationError, ImagebatchError, InputError

# Everything else is imported by the command that uses it: `imagebatch --help` and `status`
# must not pay for the web stack, Alembic or a provider's SDK (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from imagebatch.app import App
    from imagebatch.domain.records import Batch

EXIT_FAILURES, EXIT_INVALID, EXIT_INTERRUPTED = 1, 2, 130
#: commands that run until stopped: pydantic plugins (observability, e.g. Logfire's) load there
LONG_RUNNING = frozenset({"serve", "worker"})

cli = typer.Typer(help="Batch AI image generation and editing.", no_args_is_help=True)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(users_cli, name="users")
cli.command()(serve)
cli.command()(worker)
# emoji=False: batch names and errors are printed as written (":x:" stays ":x:"), and
# `status` does not load rich's emoji table.
console = Console(emoji=False)
err = Console(stderr=True, emoji=False)
T = TypeVar("T")
C = TypeVar("C")


def main() -> None:
    # Starting makes objects that live as long as the process (modules, classes, schemas:
    # ~150,000 for a run with Gemini's SDK). The collector's passes over them, while they
    # were made and again at exit, were over a third of a short command's CPU. So it stays
    # off until the command's setup is done (opening.settled()), and at exit what is left
    # is frozen, not walked.
    gc.disable()
    _without_pydantic_plugins(sys.argv[1:2])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cli()
    except ConfigurationError as error:  # a setting that cannot work: its line, no traceback
        for line in error.message.splitlines():
            err.print(f"[red]Configuration:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_INVALID)
    finally:
        gc.freeze()


def _without_pydantic_plugins(command: list[str]) -> None:
    """A short command does not look for pydantic plugins: the search reads every installed
    package's entry points (0.01 s of `imagebatch status`), and none of ours uses one.
    pydantic's documented switch, set only where the user has not set it; `serve` and
    `worker` keep the search (a plugin there observes a server, and they start once)."""
    if not LONG_RUNNING.intersection(command):
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def _with_app(body: Callable[[App], Awaitable[T]]) -> T:
    return _opened(full_app, body)


def _with_store(body: Callable[[Local], Awaitable[T]]) -> T:
    """_with_app() for commands that only read the database (no engine, no provider)."""
    return _opened(local_store, body)


def _opened(
    opener: Callable[[], AbstractAsyncContextManager[C]], body: Callable[[C], Awaitable[T]]
) -> T:
    import asyncio

    async def runner() -> T:
        async with opener() as context:
            return await body(context)

    try:
        return asyncio.run(runner())
    except InputError as error:
        err.print(f"[red]Invalid input:[/] {error.message}")
        raise typer.Exit(EXIT_INVALID) from None
    except ConfigurationError:
        raise  # main() prints it, as for every command
    except ImagebatchError as error:
        err.print(f"[red]Error:[/] {error.message}")
        raise typer.Exit(EXIT_INVALID) from None


@cli.command()
def run(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A table (CSV/XLSX/JSONL), an image folder, "
            "image files, or nothing for prompt-template mode."
        ),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="Prompt or template, e.g. 'a {animal}'.")
    ] = None,
    var: Annotated[list[str] | None, typer.Option(help="Template values: name=a,b,c")] = None,
    count: Annotated[int, typer.Option(min=1, max=1000, help="Images per prompt/image.")] = 1,
    provider: Annotated[str, typer.Option(help="Provider name.")] = "demo",
    model: Annotated[str | None, typer.Option(help="Model (default: the provider's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Tasks at once for this run.")
    ] = None,
    negative_prompt: Annotated[str | None, typer.Option()] = None,
    aspect_ratio: Annotated[
        str | None, typer.Option(help="1:1 2:3 3:2 3:4 4:3 16:9 9:16 21:9")
    ] = None,
    resolution: Annotated[str | None, typer.Option(help="1K 2K 4K")] = None,
    seed: Annotated[int | None, typer.Option(min=0)] = None,
    reuse: Annotated[
        bool, typer.Option(help="Reuse outputs of identical earlier requests.")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option(help="Provider parameter name=value, e.g. quality=high.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Only validate the input and print the cost estimate.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: tasks and estimate as the API's JSON.")
    ] = False,
    economy: Annotated[
        bool,
        typer.Option(
            help="Run as one discounted provider batch job (openai, gemini): "
            "cheaper, but results may take up to 24 hours."
        ),
    ] = False,
) -> None:
    """Turn a table, a folder of images or a prompt template into a folder of images."""
    if as_json and not dry_run:
        raise typer.BadParameter("only goes with --dry-run", param_hint="--json")
    from imagebatch.cli.inputs import RunArgs
    from imagebatch.cli.runner import drive
    from imagebatch.cli.submitting import report_dry_run, submit_or_resume
    from imagebatch.domain.states import BatchStatus

    args = RunArgs(
        inputs or [],
        prompt,
        var or [],
        count,
        provider,
        model,
        negative_prompt,
        aspect_ratio,
        resolution,
        seed,
        out,
        param or [],
    )

    async def body(app: App) -> int:
        if dry_run:
            report_dry_run(app, args, reuse, economy, as_json)
            return 0
        batch, out_dir, skipped = await submit_or_resume(app, args, reuse, economy)
        batch, interrupted = await drive(app, batch, out_dir, console, concurrency)
        _summary(batch, out_dir)
        if interrupted:
            console.print("Interrupted. Run the same command again to continue.")
            return EXIT_INTERRUPTED
        if skipped:
            err.print(f"[yellow]{skipped} input file(s) were skipped (see above).[/]")
        return 0 if batch.status is BatchStatus.COMPLETED and not skipped else EXIT_FAILURES

    raise typer.Exit(_with_app(body))


def _summary(batch: Batch, out_dir: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"Batch {batch.id} · {batch.name}")
    for column in ("status", "total", "succeeded", "failed", "cancelled", "output"):
        table.add_column(column)
    table.add_row(
        batch.status.value,
        str(batch.total),
        str(batch.succeeded),
        str(batch.failed),
        str(batch.cancelled),
        str(out_dir or ""),
    )
    console.print(table)
    if batch.failed:
        console.print(f"Retry the failed ones with: imagebatch retry {batch.id}")


@cli.command()
def status(batch_id: Annotated[int | None, typer.Argument()] = None) -> None:
    """Show recent batches, or one batch with its failures."""
    from rich.table import Table

    async def body(app: Local) -> None:
        if batch_id is None:
            table = Table("id", "name", "status", "done", "failed", "provider", "created")
            for b in await app.batches.page(None, limit=30):
                table.add_row(
                    str(b.id),
                    b.name,
                    b.status.value,
                    f"{b.done}/{b.total}",
                    str(b.failed),
                    f"{b.provider}/{b.model}",
                    b.created_at.strftime("%Y-%m-%d %H:%M"),
                )
            console.print(table)
            return
        b = await app.batches.get(batch_id)
        counts = await app.batches.task_counts(batch_id)
        console.print(f"Batch {b.id} · {b.name} · {b.status.value} · {b.provider}/{b.model}")
        console.print("  ".join(f"{s.value}: {n}" for s, n in counts.items()))
        for task in await app.tasks.page(batch_id, status=None, limit=10_000):
            if task.error_message and task.status.value == "failed":
                console.print(f"  task {task.id} ({task.source}): {task.error_message}")

    _with_store(body)


@cli.command()
def retry(
    batch_id: int,
    wait: Annotated[bool, typer.Option(help="Run the retried tasks here until done.")] = True,
    concurrency: Annotated[int | None, typer.Option(min=1, max=1000)] = None,
) -> None:
    """Retry every failed task of a batch."""
    from imagebatch.cli.runner import drive
    from imagebatch.domain.states import BatchStatus

    async def body(app: App) -> int:
        count = await app.service.retry_failed(batch_id)
        console.print(f"{count} task(s) back in the queue.")
        if not wait:
            return 0
        batch = await app.batches.get(batch_id)
        out = Path(batch.out_dir) if batch.out_dir else None
        batch, interrupted = await drive(app, batch, out, console, concurrency)
        _summary(batch, out)
        if interrupted:
            return EXIT_INTERRUPTED
        return 0 if batch.status is BatchStatus.COMPLETED else EXIT_FAILURES

    raise typer.Exit(_with_app(body))


@cli.command()
def cancel(batch_id: int) -> None:
    """Cancel a batch: nothing more starts, running calls are abandoned."""

    async def body(app: App) -> None:
        batch = await app.service.cancel(batch_id)
        console.print(f"Batch {batch.id} cancelled ({batch.succeeded} image(s) were finished).")

    _with_app(body)


@cli.command()
def inspect(file: Path) -> None:
    """Show the provenance (prompt, parameters, provider…) stored in an output image."""
    from imagebatch.imaging import provenance

    try:
        info = provenance.read(file.read_bytes())
    except OSError as error:
        err.print(f"[red]Cannot read {file}:[/] {error.strerror}")
        raise typer.Exit(EXIT_INVALID) from None
    if info is None:
        err.print(f"{file}: no imagebatch provenance found")
        raise typer.Exit(EXIT_FAILURES)
    console.print_json(json.dumps(info, ensure_ascii=False))


@cli.command()
def template(
    out: Annotated[Path, typer.Argument()] = Path("imagebatch-template.xlsx"),
    lang: Annotated[str, typer.Option(help="Header language: en or zh.")] = "en",
) -> None:
    """Write an example task table (XLSX) to fill in."""
    if lang not in {"en", "zh"}:
        err.print("--lang must be en or zh")
        raise typer.Exit(EXIT_INVALID)
    from imagebatch.domain.sheet_files import template_workbook

    out.write_bytes(template_workbook(lang, local_files=True))
    console.print(f"Wrote {out}")


@cli.command()
def export(batch_id: int, out: Path) -> None:
    """Export a batch's tasks with status and output paths to CSV or XLSX."""
    from imagebatch.cli.exports import export_batch

    _with_app(lambda app: export_batch(app, batch_id, out))
    console.print(f"Wrote {out}")


@cli.command()
def providers() -> None:
    """List providers, whether they are configured, their models and what each can do."""
    from rich.table import Table

    async def body(app: App) -> None:
        table = Table(
            "provider", "keys", "model", "modes", "sizes", "refs", "neg", "seed", "$/image"
        )
        for name, provider in sorted(app.providers.items()):
            caps = provider.capabilities
            for i, model in enumerate(caps.models.values()):
                table.add_row(
                    name if i == 0 else "",
                    _key_state(provider) if i == 0 else "",
                    model.name + (" (default)" if model.name == caps.default_model else ""),
                    " ".join(sorted(m.value for m in model.modes)),
                    " ".join(sorted(r.value for r in model.resolutions)),
                    str(model.max_reference_images),
                    "yes" if model.negative_prompt else "no",
                    "yes" if model.seed else "no",
                    f"{model.price_per_image:g}",
                )
        console.print(table)
        await _print_backends(app)

    _with_app(body)


async def _print_backends(app: App) -> None:
    """Each server of a pooled provider (ComfyUI GPUs): up or benched, load, last error."""
    from rich.table import Table

    from imagebatch.providers.base import BackendStatuses

    for name, provider in sorted(app.providers.items()):
        if not isinstance(provider, BackendStatuses) or not provider.configured:
            continue
        table = Table("backend", "state", "ours running", "its queue", "last error", title=name)
        for backend in await provider.backend_statuses():
            queue = "?" if backend.queue_length is None else str(backend.queue_length)
            state = "up" if backend.up else "benched"
            table.add_row(backend.url, state, str(backend.running), queue, backend.last_error)
        console.print(table)


def _key_state(provider: object) -> str:
    keys = getattr(provider, "keys", None)
    if keys is None:
        return "not needed"
    count = len(keys.active())
    return f"{count} key{'s' if count != 1 else ''}" if count else "no key"


@cli.command()
def concurrency(
    limit: Annotated[int | None, typer.Argument(min=1, max=100, help="New global limit.")] = None,
) -> None:
    """Show or set how many tasks run at once across all workers (takes effect within 1 s)."""
    from imagebatch.engine.runtime import RuntimeSettingsUpdate

    async def body(app: App) -> None:
        if limit is not None:
            await app.runtime_settings.update(RuntimeSettingsUpdate(global_concurrency=limit))
        current = (await app.runtime_settings.current()).global_concurrency
        console.print(f"Global concurrency: {current}")

    _with_app(body)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done automatically at start)."""
    from imagebatch.settings_loader import load_settings
    from imagebatch.store.migrations import upgrade

    upgrade(load_settings().resolved_database_url)
    console.print("Database is up to date.")
