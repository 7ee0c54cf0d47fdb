"""What a user asks for: one TaskSpec per output image, before it is stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from imagebatch.errors import InputError, InputIssue

if TYPE_CHECKING:  # requests.py builds on this module's vocabulary
    from imagebatch.domain.requests import ImageRef, ImageRequest


class Mode(StrEnum):
    GENERATE = "generate"  #: text (plus optional reference images) to image
    EDIT = "edit"  #: one input image plus a prompt to image


class AspectRatio(StrEnum):
    R1_1 = "1:1"
    R2_3 = "2:3"
    R3_2 = "3:2"
    R3_4 = "3:4"
    R4_3 = "4:3"
    R16_9 = "16:9"
    R9_16 = "9:16"
    R21_9 = "21:9"

    @property
    def ratio(self) -> float:
        width, height = self.value.split(":")
        return int(width) / int(height)


class Resolution(StrEnum):
    K1 = "1K"
    K2 = "2K"
    K4 = "4K"

    @property
    def long_side(self) -> int:
        return {"1K": 1024, "2K": 2048, "4K": 4096}[self.value]


MAX_REFERENCE_IMAGES = 4
MAX_COUNT_PER_ROW = 10
#: characters one prompt may have unless the deployment says otherwise (max_prompt_chars)
MAX_PROMPT_CHARS = 8_000


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One requested output image, as parsed from a template, a table row or an image folder."""

    #: what to make, its images as the user named them
    request: ImageRequest[ImageRef]
    #: the prompt as the user wrote it, when a preset's text went in front of it
    user_prompt: str | None = None
    #: wanted output name (no directories); sanitised and made unique later
    filename: str | None = None
    provider: str | None = None
    model: str | None = None
    #: where it came from, for error messages and the manifest ("row 7", "cat.jpg")
    source: str | None = None


def dimensions(aspect: AspectRatio | None, resolution: Resolution | None) -> tuple[int, int]:
    """Pixel size for an aspect ratio at a resolution class (long side 1024/2048/4096)."""
    ratio = (aspect or AspectRatio.R1_1).ratio
    long_side = (resolution or Resolution.K1).long_side
    if ratio >= 1:
        return long_side, max(1, round(long_side / ratio / 8) * 8)
    return max(1, round(long_side * ratio / 8) * 8), long_side


def prompt_issue(prompt: str, where: str, max_chars: int) -> InputIssue | None:
    """The problem with a prompt longer than `max_chars`, or None."""
    if len(prompt) <= max_chars:
        return None
    return InputIssue(
        where,
        f"the prompt has {len(prompt):,} characters, at most {max_chars:,} are allowed",
        "shorten it, or split it over several rows",
        "prompt_too_long",
        {"chars": len(prompt), "max": max_chars},
    )


def check_prompts(specs: Iterable[TaskSpec], max_chars: int) -> None:
    """Refuse specs whose prompt (preset included) is too long, each named by its source."""
    issues = [
        issue
        for spec in specs
        if (issue := prompt_issue(spec.request.prompt, _prompt_where(spec.source), max_chars))
    ]
    if issues:
        raise InputError(list(dict.fromkeys(issues)))


def _prompt_where(source: str | None) -> str:
    if source is None:
        return "prompt"
    return source if source.startswith("prompt") else f"{source}, column prompt"
