"""The request value: its key and provenance stay what stored tasks and images already hold."""

from __future__ import annotations

from dataclasses import dataclass

from imagebatch.domain.requests import (
    ImageRequest,
    ImageUrl,
    LocalPath,
    StoredImage,
    image_ref,
)
from imagebatch.domain.specs import AspectRatio, Mode, Resolution


@dataclass(frozen=True)
class Stored:
    sha256: str


FULL = ImageRequest(
    "a red 猫",
    negative_prompt="blur",
    aspect_ratio=AspectRatio.R16_9,
    resolution=Resolution.K2,
    seed=7,
    variant=1,
    params={"quality": "high"},
    input_image=Stored("a" * 64),
    references=(Stored("b" * 64), Stored("c" * 64)),
)


def test_the_request_key_is_the_one_earlier_versions_stored() -> None:
    # Pinned values: --reuse and resume find earlier outputs by these keys.
    assert FULL.request_key("openai", "gpt-image-1") == (
        "28cd55df6e38eca76ca861975a46883d85cb0cb95575ba04963a8c46110c8008"
    )
    plain: ImageRequest[Stored] = ImageRequest("p")
    assert plain.request_key("demo", "demo") == (
        "ae95866d59fe00ea7cbbc2b75571374560d67678d8ab24a7b5c1cee404b13239"
    )


def test_images_count_by_content_not_by_where_they_came_from() -> None:
    moved = FULL.map_images(lambda image: Stored(image.sha256))
    assert moved.request_key("openai", "m") == FULL.request_key("openai", "m")
    other = FULL.with_images(Stored("d" * 64), FULL.references)
    assert other.request_key("openai", "m") != FULL.request_key("openai", "m")


def test_provenance_holds_the_seed_used_in_the_records_order() -> None:
    assert FULL.provenance(seed_used=99) == {
        "prompt": "a red 猫",
        "negative_prompt": "blur",
        "aspect_ratio": "16:9",
        "resolution": "2K",
        "seed": 99,
        "variant": 1,
        "params": {"quality": "high"},
    }
    assert list(FULL.provenance(None)) == list(FULL.plain())
    assert FULL.provenance(None)["seed"] == 7


def test_the_edited_image_comes_first_and_makes_it_an_edit() -> None:
    assert FULL.images == (Stored("a" * 64), Stored("b" * 64), Stored("c" * 64))
    assert FULL.mode is Mode.EDIT
    assert ImageRequest("p", references=(1, 2)).mode is Mode.GENERATE
    ids = ImageRequest("p", input_image="x", references=("yy",)).map_images(len)
    assert (ids.input_image, ids.references) == (1, (2,))


def test_references_are_typed_where_written_and_read_back_as_written() -> None:
    assert image_ref("HTTPS://example.org/a.png") == ImageUrl("HTTPS://example.org/a.png")
    # a name that looks like a stored image is a file name: users name stored images by asset
    assert image_ref("image:12") == LocalPath("image:12")
    assert [str(ref) for ref in (StoredImage(12), ImageUrl("http://x/a"), LocalPath("a.png"))] == [
        "image:12",
        "http://x/a",
        "a.png",
    ]
