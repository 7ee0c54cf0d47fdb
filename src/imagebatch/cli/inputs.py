"""Reading `imagebatch run` arguments — a template, a table or images, and the flags — for
the shared pipeline (domain/submissions.py) that turns them into task specs."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from imagebatch.domain.prompts import parse_var
from imagebatch.domain.requests import LocalPath
from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.sheets import parse_table
from imagebatch.domain.specs import MAX_PROMPT_CHARS, AspectRatio, Mode, Resolution, TaskSpec
from imagebatch.domain.submissions import (
    ImageToEdit,
    TaskOptions,
    edit_specs,
    finish,
    planned_task,
    template_specs,
)
from imagebatch.errors import InputError, InputIssue

E = TypeVar("E", AspectRatio, Resolution)

TABLE_SUFFIXES = frozenset({".csv", ".xlsx", ".jsonl", ".json-lines", ".tsv"})


@dataclass(frozen=True, slots=True)
class RunArgs:
    inputs: list[Path]
    prompt: str | None = None
    variables: list[str] = field(default_factory=list)
    count: int = 1
    provider: str = "demo"
    model: str | None = None
    negative_prompt: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    out: Path | None = None
    #: provider parameters as name=value (e.g. quality=high)
    params: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParsedInput:
    mode: Mode
    name: str
    #: the tasks as they will run: the batch options already applied
    specs: list[TaskSpec]
    base_dir: Path | None
    #: identifies the input's content, for resuming the same command
    content_id: str


def parse_run_input(
    args: RunArgs, max_tasks: int, max_prompt_chars: int = MAX_PROMPT_CHARS
) -> ParsedInput:
    """The flags are read first: a wrong one is reported before the input is opened."""
    options = task_options(args)
    limits = SheetLimits(max_rows=max_tasks, max_prompt_chars=max_prompt_chars)
    parsed = _parse(args, limits)
    return replace(parsed, specs=finish(parsed.specs, options, max_prompt_chars))


def task_options(args: RunArgs) -> TaskOptions:
    """The flags that shape every task, as the API's batch options do."""
    return TaskOptions(
        negative_prompt=args.negative_prompt,
        aspect_ratio=_choice(AspectRatio, args.aspect_ratio, "--aspect-ratio"),
        resolution=_choice(Resolution, (args.resolution or "").upper() or None, "--resolution"),
        seed=args.seed,
        params=parse_params(args.params),
    )


def _parse(args: RunArgs, limits: SheetLimits) -> ParsedInput:
    if not args.inputs:
        return _from_template(args, limits)
    if len(args.inputs) == 1 and args.inputs[0].is_dir():
        # Pillow (0.03 s) is loaded for a folder of images only, not a template's run
        from imagebatch.imaging.inputs import scan_images

        return _from_images(args, scan_images(args.inputs[0]), args.inputs[0])
    if len(args.inputs) == 1 and args.inputs[0].suffix.lower() in TABLE_SUFFIXES:
        return _from_table(args.inputs[0], limits)
    missing = [p for p in args.inputs if not p.exists()]
    if missing:
        raise InputError(
            [InputIssue(str(p), "no such file or folder", "check the path") for p in missing]
        )
    return _from_images(args, sorted(args.inputs), None)


def _from_template(args: RunArgs, limits: SheetLimits) -> ParsedInput:
    if not args.prompt:
        raise InputError(
            InputIssue("--prompt", "no input and no prompt", "give a table, a folder or --prompt")
        )
    variables = dict(parse_var(v) for v in args.variables)
    specs = template_specs(args.prompt, variables, args.count, limits)
    content = json.dumps([args.prompt, variables], sort_keys=True, ensure_ascii=False)
    return ParsedInput(Mode.GENERATE, _slug(args.prompt), specs, None, _digest(content.encode()))


def _from_table(path: Path, limits: SheetLimits) -> ParsedInput:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(InputIssue(str(path), f"cannot read: {error.strerror}")) from error
    specs = parse_table(data, path.name, limits)
    return ParsedInput(Mode.GENERATE, path.stem, specs, path.parent, _digest(data))


def _from_images(args: RunArgs, paths: list[Path], root: Path | None) -> ParsedInput:
    if not args.prompt:
        raise InputError(
            InputIssue("--prompt", "editing images needs a prompt", 'add --prompt "…"')
        )
    if not paths:
        where = str(root) if root else "input"
        raise InputError(InputIssue(where, "no files found", "point at a folder of images"))
    images = [
        ImageToEdit(str(path.relative_to(root)) if root else path.name, LocalPath(str(path)))
        for path in paths
    ]
    listing = [
        [image.name, *_size_and_time(path)] for image, path in zip(images, paths, strict=True)
    ]
    name = root.name if root else paths[0].stem
    content = _digest(json.dumps(listing).encode())
    return ParsedInput(Mode.EDIT, name, edit_specs(args.prompt, images, args.count), None, content)


def _size_and_time(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise InputError(
                InputIssue(f"--param {item}", "is not name=value", "e.g. quality=high")
            )
        params[name.strip()] = value.strip()
    return params


def _choice(enum: type[E], value: str | None, flag: str) -> E | None:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = " ".join(member.value for member in enum)
        raise InputError(
            InputIssue(flag, f"{value!r} is not allowed", f"use one of {allowed}")
        ) from None


def fingerprint(args: RunArgs, parsed: ParsedInput, out_dir: Path, economy: bool = False) -> str:
    """The same command on the same input gives the same fingerprint: that run is resumed.
    It holds exactly what shapes the tasks (the specs as they will run, a flag the input
    does not use leaves them alone) and where they run. An economy run is another batch
    than the same run without --economy."""
    tasks = [planned_task(spec) for spec in parsed.specs]  # the edited image: by content_id
    parts = [
        parsed.mode.value,
        parsed.content_id,
        args.provider,
        args.model,
        tasks,
        str(out_dir.resolve()),
    ]
    if economy:
        parts.append("economy")
    return _digest(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w-]+", "-", text.strip().lower()).strip("-")
    return slug[:40] or "prompts"
