from __future__ import annotations

import pytest

from imagebatch.domain.filenames import assign_stems, sanitize_stem
from imagebatch.domain.specs import TaskSpec
from tests.flat_requests import task_spec


@pytest.mark.parametrize(
    ("wanted", "stem"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/shot.png", "shot"),
        ("..\\..\\win.jpg", "win"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ('a<b>:c"d|e?f*', "a_b_c_d_e_f_"),
        ("  .hidden. ", "hidden"),
        ("..", ""),
        ("红色 运动鞋", "红色 运动鞋"),
        ("x" * 300, "x" * 120),
    ],
)
def test_sanitize_keeps_names_inside_the_folder(wanted: str, stem: str) -> None:
    assert sanitize_stem(wanted) == stem


def spec(name: str | None, source: str, variant: int = 0, prompt: str = "p") -> TaskSpec:
    return task_spec(prompt, filename=name, source=source, variant=variant)


def test_copies_of_a_row_are_numbered_and_collisions_suffixed() -> None:
    specs = [
        spec("shoe", "row 2", 0),
        spec("shoe", "row 2", 1),
        spec("shoe", "row 3"),
        spec("SHOE", "row 4"),
    ]
    assert assign_stems(specs) == ["shoe_1", "shoe_2", "shoe", "SHOE-2"]


def test_existing_files_are_never_overwritten() -> None:
    assert assign_stems([spec("cover", "row 2")], taken={"Cover"}) == ["cover-2"]


def test_default_names_come_from_position_and_prompt() -> None:
    stems = assign_stems([spec(None, "prompt 1", prompt="a red fox / jumping")])
    assert stems == ["00000_a_red_fox_jumping"]


def test_edit_outputs_are_named_after_their_input() -> None:
    edit = task_spec("sepia", input_image="/photos/holiday.heic", source="holiday.heic")
    assert assign_stems([edit]) == ["holiday_edit"]
