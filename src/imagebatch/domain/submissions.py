"""From what a user gives — a prompt template, images to edit, or a table's rows — plus the
batch's options, to one TaskSpec per output image. The CLI and the API read their inputs
(files, uploads, flags, bodies) and hand them here, so both follow the same rules:

- the batch options fill in what a row or prompt leaves blank; a row's own value wins;
- every prompt (a preset's included) is checked against the deployment's limit first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from imagebatch.domain.pricing import Estimate
from imagebatch.domain.prompts import expand_template
from imagebatch.domain.requests import ImageRef, ImageRequest
from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.specs import AspectRatio, Resolution, TaskSpec, check_prompts

ParamValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """The batch-wide choices that shape its tasks (not where or how it runs)."""

    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    seed: int | None = None
    #: provider parameters, as text: a table's cells and `--param` are text too
    params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        *,
        negative_prompt: str | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        seed: int | None = None,
        params: Mapping[str, ParamValue] | None = None,
    ) -> TaskOptions:
        texts = {name: param_text(value) for name, value in (params or {}).items()}
        return cls(negative_prompt, aspect_ratio, resolution, seed, texts)


@dataclass(frozen=True, slots=True)
class ImageToEdit:
    #: the name the user knows it by ("cat.jpg", "shots/cat.jpg"): the task's source
    name: str
    #: how the engine finds it: a path on this machine, or a stored image
    ref: ImageRef


def template_specs(
    prompt: str,
    variables: Mapping[str, Sequence[str]],
    count: int,
    limits: SheetLimits,
    references: Sequence[ImageRef] = (),
) -> list[TaskSpec]:
    """Every prompt the template expands to, `count` times each."""
    prompts = expand_template(
        prompt,
        dict(variables),
        count=count,
        max_tasks=limits.max_rows,
        max_prompt_chars=limits.max_prompt_chars,
    )
    return [
        TaskSpec(
            ImageRequest(text, variant=variant, references=tuple(references)),
            source=f"prompt {i + 1}",
        )
        for i, text in enumerate(prompts)
        for variant in range(count)
    ]


def edit_specs(prompt: str, images: Sequence[ImageToEdit], count: int) -> list[TaskSpec]:
    """One prompt over every image, `count` times each; outputs are named `<image>_edit`."""
    return [
        TaskSpec(
            ImageRequest(prompt, variant=variant, input_image=image.ref),
            filename=f"{PurePosixPath(image.name).stem}_edit",
            source=image.name,
        )
        for image in images
        for variant in range(count)
    ]


def finish(
    specs: Sequence[TaskSpec], options: TaskOptions, max_prompt_chars: int
) -> list[TaskSpec]:
    """Check every prompt, then apply the batch options: the specs as they will be run."""
    check_prompts(specs, max_prompt_chars)
    return [with_options(spec, options) for spec in specs]


def with_options(spec: TaskSpec, options: TaskOptions) -> TaskSpec:
    """Batch-wide choices fill in what a row left empty; a row's own values win."""
    own = spec.request
    request = replace(
        own,
        negative_prompt=own.negative_prompt or options.negative_prompt,
        aspect_ratio=own.aspect_ratio or options.aspect_ratio,
        resolution=own.resolution or options.resolution,
        seed=own.seed if own.seed is not None else options.seed,
        params={**options.params, **own.params},
    )
    return replace(spec, request=request)


def param_text(value: ParamValue) -> str:
    """A parameter as a table cell would hold it (JSON's true is "true", not "True")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def planned_task(spec: TaskSpec) -> dict[str, Any]:
    """What a dry run shows of one task, JSON-ready; the same for the CLI and the API.
    The image being edited is named by `source`: its stored form is no business of the user."""
    return {
        **spec.request.plain(),
        "source": spec.source,
        "filename": spec.filename,
        "reference_images": [str(ref) for ref in spec.request.references],
        "provider": spec.provider,
        "model": spec.model,
    }


def dry_run_report(specs: Sequence[TaskSpec], found: Estimate) -> dict[str, Any]:
    """A dry run's answer in the API's shape (BatchCreated's tasks, planned and estimate)."""
    lines = [
        {
            "provider": line.provider,
            "model": line.model,
            "images": line.images,
            "price_per_image": line.price_per_image,
            "discount": line.discount,
            "cost": line.cost,
        }
        for line in found.lines
    ]
    return {
        "tasks": len(specs),
        "planned": [planned_task(spec) for spec in specs],
        "estimate": {
            "total": found.total,
            "reused": found.reused,
            "saving": found.saving,
            "lines": lines,
        },
    }
