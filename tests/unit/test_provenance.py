from __future__ import annotations

import io

import pytest
from PIL import Image

from imagebatch.imaging import provenance

INFO = {"prompt": '一只猫 & a "dog" <b>', "provider": "demo", "batch_id": 7, "params": {"k": 1}}


def encode(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((48, 32), 30).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_png_and_jpeg_are_stamped_without_touching_pixels(fmt: str, mime: str) -> None:
    original = encode(fmt)
    stamped = provenance.embed(original, mime, INFO)
    assert provenance.read(stamped) == INFO
    assert pixels(stamped) == pixels(original)


def test_webp_carries_xmp() -> None:
    stamped = provenance.embed(encode("WEBP"), "image/webp", INFO)
    assert provenance.read(stamped) == INFO
    with Image.open(io.BytesIO(stamped)) as image:
        assert image.format == "WEBP"


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_stamping_twice_keeps_one_record(fmt: str, mime: str) -> None:
    once = provenance.embed(encode(fmt), mime, {"prompt": "old"})
    twice = provenance.embed(once, mime, INFO)
    assert provenance.read(twice) == INFO
    assert twice.count(b"imagebatch:provenance=") == 1


def test_xmp_is_standard_enough_for_pillow() -> None:
    stamped = provenance.embed(encode("PNG"), "image/png", INFO)
    with Image.open(io.BytesIO(stamped)) as image:
        assert "XML:com.adobe.xmp" in image.info
        assert "imagebatch" in image.info


def test_unstamped_files_have_no_provenance() -> None:
    assert provenance.read(encode("PNG")) is None
    assert provenance.read(encode("JPEG")) is None
