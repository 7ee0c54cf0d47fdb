"""`imagebatch run`'s submission: the tasks a run's inputs make, a dry run's report, and
resuming the batch an identical earlier run started."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer
from rich.console import Console

from imagebatch.app import App
from imagebatch.cli.inputs import ParsedInput, RunArgs, fingerprint, parse_run_input
from imagebatch.cli.outputs import existing_stems
from imagebatch.domain.owners import local_owner
from imagebatch.domain.records import Batch
from imagebatch.domain.states import BatchStatus
from imagebatch.domain.submissions import dry_run_report
from imagebatch.engine.service import Submission

# As main.py's: names and errors printed as written, and rich's emoji table never loaded
console = Console(emoji=False)
err = Console(stderr=True, emoji=False)


def report_dry_run(app: App, args: RunArgs, reuse: bool, economy: bool, as_json: bool) -> None:
    s = app.settings
    parsed = parse_run_input(args, s.max_tasks_per_batch, s.max_prompt_chars)
    found = app.service.estimate(submission(app, args, parsed, reuse, Path("."), "", economy))
    if as_json:  # plain stdout: rich would wrap long lines and break the JSON
        typer.echo(json.dumps(dry_run_report(parsed.specs, found), ensure_ascii=False))
        return
    console.print(f"{len(parsed.specs)} task(s) are valid. Estimated cost: {found.describe()}")


async def submit_or_resume(
    app: App, args: RunArgs, reuse: bool, economy: bool
) -> tuple[Batch, Path, int]:
    s = app.settings
    parsed = parse_run_input(args, s.max_tasks_per_batch, s.max_prompt_chars)
    out_dir = args.out or Path("imagebatch-out") / parsed.name
    fp = fingerprint(args, parsed, out_dir, economy)
    earlier = await app.batches.find_by_fingerprint(fp)
    if earlier is not None and earlier.status is not BatchStatus.CANCELLED:
        console.print(f"Resuming batch {earlier.id} ({earlier.done}/{earlier.total} done).")
        if earlier.status is BatchStatus.PAUSED:
            earlier = await app.service.resume(earlier.id)
        return earlier, out_dir, 0
    submitted = await app.service.submit(submission(app, args, parsed, reuse, out_dir, fp, economy))
    for issue in submitted.skipped:
        err.print(f"[yellow]skipped[/] {issue}")
    batch = submitted.batch
    console.print(f"Batch {batch.id}: {batch.total} task(s) with {batch.provider}/{batch.model}.")
    console.print(f"Estimated cost: {submitted.estimate.describe()}")
    return batch, out_dir, len(submitted.skipped)


def submission(
    app: App,
    args: RunArgs,
    parsed: ParsedInput,
    reuse: bool,
    out_dir: Path,
    fp: str,
    economy: bool = False,
) -> Submission:
    s = app.settings
    return Submission(
        name=parsed.name,
        owner=local_owner(getpass.getuser()),  # no account: never an API user's data
        mode=parsed.mode,
        provider=args.provider,
        specs=parsed.specs,
        model=args.model,
        base_dir=parsed.base_dir,
        reuse=reuse,
        fingerprint=fp or None,
        out_dir=str(out_dir),
        taken_stems=existing_stems(out_dir),
        max_attempts=s.max_attempts,
        max_tasks=s.max_tasks_per_batch,
        economy=economy,
    )
