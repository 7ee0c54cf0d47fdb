"""Telling a whole JPEG from a cut one without decoding it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagebatch.imaging.sniff import jpeg_ends


def jpeg(progressive: bool = False, exif_thumbnail: bool = False) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_noise((128, 96), 40).convert("RGB")
    options: dict[str, object] = {"progressive": progressive}
    if exif_thumbnail:  # an Exif block carrying a whole little JPEG, FF D9 included
        thumb = io.BytesIO()
        image.resize((16, 12)).save(thumb, "JPEG")
        exif = Image.Exif()
        exif[0x010F] = "camera"
        options["exif"] = exif.tobytes() + thumb.getvalue()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("exif_thumbnail", [False, True])
def test_a_whole_jpeg_ends_and_a_cut_one_does_not(progressive: bool, exif_thumbnail: bool) -> None:
    data = jpeg(progressive, exif_thumbnail)
    if exif_thumbnail:
        assert data.count(b"\xff\xd9") == 2  # the thumbnail's end marker, then the image's
    assert jpeg_ends(data)
    assert jpeg_ends(data + b"\0" * 16)  # padding after the end marker is harmless
    for cut in (len(data) - 2, len(data) - 10, len(data) // 2, 300):
        assert not jpeg_ends(data[:cut]), cut


@pytest.mark.parametrize("garbage", [b"", b"\xff\xd8", b"\xff\xd8\x00\x00\xff\xd9", b"GIF89a"])
def test_broken_headers_are_not_a_jpeg_that_ends(garbage: bytes) -> None:
    assert not jpeg_ends(garbage)
