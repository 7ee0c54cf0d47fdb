"""The submission pipeline the CLI and the API share: options fill blanks, rows win."""

from __future__ import annotations

import pytest

from imagebatch.domain.requests import ImageUrl, LocalPath, StoredImage
from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.sheets import parse_records
from imagebatch.domain.specs import AspectRatio, Resolution
from imagebatch.domain.submissions import (
    ImageToEdit,
    TaskOptions,
    edit_specs,
    finish,
    planned_task,
    template_specs,
)
from imagebatch.errors import InputError
from tests.flat_requests import task_spec

OPTIONS = TaskOptions.of(
    negative_prompt="blurry",
    aspect_ratio=AspectRatio.R16_9,
    resolution=Resolution.K2,
    seed=7,
    params={"quality": "high", "hd": True, "steps": 20},
)


def test_options_fill_what_a_row_leaves_blank_and_a_rows_own_value_wins() -> None:
    rows = parse_records(
        [
            {"prompt": "blank row"},
            {"prompt": "own row", "aspect_ratio": "1:1", "seed": "0", "negative_prompt": "dark"},
        ]
    )
    blank, own = (spec.request for spec in finish(rows, OPTIONS, max_prompt_chars=100))

    assert (blank.aspect_ratio, blank.resolution, blank.seed) == ("16:9", "2K", 7)
    assert blank.negative_prompt == "blurry"
    # seed 0 is a value, not a blank
    assert (own.aspect_ratio, own.seed, own.negative_prompt) == ("1:1", 0, "dark")
    assert own.resolution == "2K"
    assert blank.params == {"quality": "high", "hd": "true", "steps": "20"}


def test_a_specs_own_params_win_over_the_batchs() -> None:
    spec = task_spec("p", params={"quality": "low"})
    (done,) = finish([spec], OPTIONS, max_prompt_chars=100)
    assert done.request.params["quality"] == "low" and done.request.params["hd"] == "true"


def test_too_long_prompt_is_refused_by_its_source() -> None:
    specs = template_specs("x" * 50, {}, count=1, limits=SheetLimits())
    with pytest.raises(InputError) as raised:
        finish(specs, OPTIONS, max_prompt_chars=10)
    assert raised.value.issues[0].where == "prompt 1"


def test_template_expands_every_prompt_count_times_with_its_references() -> None:
    specs = template_specs(
        "a {animal}",
        {"animal": ["cat", "dog"]},
        count=2,
        limits=SheetLimits(),
        references=[ImageUrl("https://example.org/r.png")],
    )
    assert [(s.request.prompt, s.source, s.request.variant) for s in specs] == [
        ("a cat", "prompt 1", 0),
        ("a cat", "prompt 1", 1),
        ("a dog", "prompt 2", 0),
        ("a dog", "prompt 2", 1),
    ]
    assert all(s.request.references == (ImageUrl("https://example.org/r.png"),) for s in specs)


def test_edited_images_are_named_after_the_file_not_its_stored_form() -> None:
    images = [
        ImageToEdit("shots/cat.photo.png", StoredImage(12)),
        ImageToEdit("dog.jpg", LocalPath("/x/dog.jpg")),
    ]
    specs = edit_specs("make it blue", images, count=1)
    assert [(s.filename, s.source, s.request.input_image) for s in specs] == [
        ("cat.photo_edit", "shots/cat.photo.png", StoredImage(12)),
        ("dog_edit", "dog.jpg", LocalPath("/x/dog.jpg")),
    ]
    assert "input_image" not in planned_task(specs[0])
    assert planned_task(specs[0])["source"] == "shots/cat.photo.png"
