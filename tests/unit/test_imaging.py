from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from PIL import Image

from imagebatch.errors import InputError, ProviderUnavailable
from imagebatch.imaging.inputs import load_image, make_thumbnail, probe_output, scan_images

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 50_000_000}


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def problem(data: bytes, name: str = "f", **limits: int) -> str:
    with pytest.raises(InputError) as caught:
        load_image(data, name, **{**LIMITS, **limits})
    return str(caught.value.issues[0])


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_common_formats_are_kept_byte_for_byte(fmt: str, mime: str) -> None:
    data = encode(Image.new("RGB", (30, 20), "red"), fmt)
    loaded = load_image(data, "x.bin", **LIMITS)  # the name's extension is irrelevant
    assert (loaded.mime, loaded.width, loaded.height, loaded.data) == (mime, 30, 20, data)


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_other_formats_become_png(fmt: str) -> None:
    loaded = load_image(encode(Image.new("RGB", (8, 6), "blue"), fmt), "x.jpg", **LIMITS)
    assert loaded.mime == "image/png" and (loaded.width, loaded.height) == (8, 6)


def test_heic_is_converted_to_jpeg() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    heif = pillow_heif.from_pillow(Image.new("RGB", (64, 32), "green"))
    heif.save(buffer, quality=80)
    loaded = load_image(buffer.getvalue(), "IMG_1.HEIC", **LIMITS)
    assert loaded.mime == "image/jpeg" and (loaded.width, loaded.height) == (64, 32)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), "white")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    loaded = load_image(encode(image, "JPEG", exif=exif), "phone.jpg", **LIMITS)
    assert (loaded.width, loaded.height) == (20, 40)


def test_text_file_named_png_is_refused() -> None:
    assert problem(b"hello, I am text", "fake.png") == (
        "fake.png: is not an image (use JPEG, PNG, WebP, GIF, BMP or HEIC)"
    )


def test_oversize_file_is_refused_before_decoding() -> None:
    assert "is 0.0 MB, the limit is 0 MB" in problem(b"x" * 2000, "big.jpg", max_bytes=1000)


def test_decompression_bomb_is_refused() -> None:
    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")  # tiny file, 400 MP
    assert len(bomb) < 200_000
    assert "400 MP" in problem(bomb, "bomb.png")


def test_truncated_image_is_refused() -> None:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    assert "damaged or truncated" in problem(data[: len(data) // 2], "cut.png")


def test_empty_file_is_refused() -> None:
    assert "is empty" in problem(b"", "zero.png")


def test_scan_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.png").write_bytes(b"1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jpg").write_bytes(b"1")
    (tmp_path / ".DS_Store").write_bytes(b"1")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.png").write_bytes(b"1")
    assert [p.relative_to(tmp_path).as_posix() for p in scan_images(tmp_path)] == [
        "b.png",
        "sub/a.jpg",
    ]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_probe_output_accepts_whole_and_refuses_truncated_images(fmt: str) -> None:
    data = encode(Image.effect_noise((64, 48), 40).convert("RGB"), fmt)
    mime, width, height = probe_output(data)
    assert (width, height) == (64, 48) and mime.startswith("image/")
    with pytest.raises(ProviderUnavailable):
        probe_output(data[:-10])


def test_probe_output_refuses_garbage() -> None:
    with pytest.raises(ProviderUnavailable, match="not a complete image"):
        probe_output(zlib.compress(b"no image here"))


def test_thumbnail_keeps_aspect() -> None:
    thumb = make_thumbnail(encode(Image.new("RGB", (1000, 500)), "PNG"), size=100)
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.size == (100, 50)
