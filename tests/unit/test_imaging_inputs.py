from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms

from imagebatch.errors import InputError, ProviderUnavailable
from imagebatch.imaging.inputs import (
    load_image,
    load_images,
    make_thumbnail,
    probe_output,
    scan_images,
)

MB = 1024 * 1024
LIMITS = {"max_bytes": 10 * MB, "max_pixels": 50_000_000}


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def halves(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Red left half, blue right half: shows which way a rotation went."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def problem(data: bytes, name: str = "f", **limits: int) -> str:
    with pytest.raises(InputError) as caught:
        load_image(data, name, **{**LIMITS, **limits})
    (issue,) = caught.value.issues
    assert issue.where == name and issue.hint
    return issue.problem


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds no pixels: tests the checks made before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        copy = image.copy()
        copy.format = image.format
        return copy


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_upright_jpeg_png_webp_are_kept_byte_for_byte(fmt: str, mime: str) -> None:
    data = encode(Image.new("RGB", (30, 20), "red"), fmt)
    loaded = load_image(data, "photo.gif", **LIMITS)  # the extension is ignored
    assert (loaded.mime, loaded.width, loaded.height, loaded.data) == (mime, 30, 20, data)
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert loaded.original_name == "photo.gif"


def test_multi_picture_jpeg_from_a_phone_is_kept_as_jpeg() -> None:
    second = Image.new("RGB", (30, 20), "blue")
    data = encode(Image.new("RGB", (30, 20), "red"), "MPO", save_all=True, append_images=[second])
    loaded = load_image(data, "IMG_0001.JPG", **LIMITS)
    assert (loaded.mime, loaded.data) == ("image/jpeg", data)


def test_bmp_becomes_png() -> None:
    loaded = load_image(encode(halves(), "BMP"), "scan.bmp", **LIMITS)
    assert (loaded.mime, loaded.width, loaded.height) == ("image/png", 40, 20)
    assert decoded(loaded.data).getpixel((0, 0)) == (255, 0, 0)


def test_gif_becomes_png_of_its_first_frame_with_transparency() -> None:
    first = Image.new("P", (16, 16), 1)
    first.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
    first.paste(0, (0, 0, 8, 16))  # left half: colour 0, made transparent below
    second = first.copy()
    second.paste(2, (0, 0, 16, 16))
    data = encode(first, "GIF", save_all=True, append_images=[second], transparency=0)
    loaded = load_image(data, "anim.gif", **LIMITS)
    image = decoded(loaded.data)
    assert (loaded.mime, image.mode) == ("image/png", "RGBA")
    assert image.getpixel((12, 8)) == (255, 0, 0, 255)  # the first frame's red, not blue
    left = image.getpixel((2, 8))
    assert isinstance(left, tuple) and left[3] == 0


def heic(image: Image.Image) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif build has no HEVC encoder, so no HEIC test file can be made")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90)
    return buffer.getvalue()


def test_heic_becomes_jpeg() -> None:
    loaded = load_image(heic(halves((64, 32))), "IMG_1.HEIC", **LIMITS)
    assert (loaded.mime, loaded.width, loaded.height) == ("image/jpeg", 64, 32)
    assert decoded(loaded.data).format == "JPEG"


def test_heic_with_transparency_becomes_png() -> None:
    loaded = load_image(heic(Image.new("RGBA", (32, 32), (0, 255, 0, 100))), "x.heic", **LIMITS)
    assert loaded.mime == "image/png" and decoded(loaded.data).mode == "RGBA"


# --- EXIF orientation ----------------------------------------------------------------------


def rotated_jpeg(**options: object) -> bytes:
    image = halves()
    exif = image.getexif()
    exif[ExifTags.Base.Orientation] = 6  # shown rotated 90° clockwise
    exif[ExifTags.Base.Make] = "PhoneCo"
    return encode(image, "JPEG", exif=exif, quality=95, **options)


def test_exif_orientation_is_applied_and_other_metadata_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = rotated_jpeg(icc_profile=profile)
    loaded = load_image(data, "phone.jpg", **LIMITS)
    assert (loaded.mime, loaded.width, loaded.height) == ("image/jpeg", 20, 40)
    assert loaded.data != data and loaded.sha256 == hashlib.sha256(loaded.data).hexdigest()
    image = decoded(loaded.data)
    top, bottom = image.getpixel((10, 2)), image.getpixel((10, 37))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red left half now on top
    exif = image.getexif()
    assert exif.get(ExifTags.Base.Orientation, 1) == 1
    assert exif[ExifTags.Base.Make] == "PhoneCo"
    assert image.info["icc_profile"] == profile


def test_upright_orientation_tag_keeps_the_bytes() -> None:
    image = halves()
    exif = image.getexif()
    exif[ExifTags.Base.Orientation] = 1
    data = encode(image, "JPEG", exif=exif)
    assert load_image(data, "a.jpg", **LIMITS).data == data


def test_rotated_png_stays_png() -> None:
    image = halves()
    exif = image.getexif()
    exif[ExifTags.Base.Orientation] = 8
    loaded = load_image(encode(image, "PNG", exif=exif), "a.png", **LIMITS)
    assert (loaded.mime, loaded.width, loaded.height) == ("image/png", 20, 40)


# --- refusals ------------------------------------------------------------------------------


def test_text_file_named_png_is_refused() -> None:
    assert problem(b"hello, I am text\n", "fake.png") == "is a text file, not an image"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "is an HTML page, not an image"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG drawing"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "is a PDF document, not an image"),
        (b"\x00\x00\x00\x1cftypavif" + bytes(20), "is an AVIF image, which is not supported"),
        (bytes(range(256)) * 4, "is not an image"),
    ],
)
def test_non_images_are_named(data: bytes, expected: str) -> None:
    assert expected in problem(data, "x.jpg")


def test_unsupported_image_format_is_refused() -> None:
    tiff = encode(Image.new("RGB", (4, 4)), "TIFF")
    assert problem(tiff, "scan.tif") == "is a TIFF image, which is not supported"


def test_empty_file_is_refused() -> None:
    assert problem(b"", "zero.png") == "is empty (0 bytes)"


def test_oversize_file_is_refused_before_decoding() -> None:
    data = b"\xff\xd8" + b"\x00" * int(12.3 * MB)  # not even an image: size is checked first
    assert problem(data, "big.jpg") == "is 12.3 MB, over the 10 MB limit"


def test_pixel_limit_is_checked_from_the_header() -> None:
    # 64 MP is under Pillow's own guard (89 MP): our limit alone refuses it, before decoding.
    message = problem(png_header(8000, 8000), "big.png")
    assert message == "is 8000×8000 pixels, which exceeds the 50 MP limit"


def test_real_file_over_the_pixel_limit_is_refused() -> None:
    data = encode(Image.new("1", (9000, 9000)), "PNG")  # 81 MP in 10 KB
    assert len(data) < 20_000
    assert "9000×9000 pixels" in problem(data, "huge.png")


@pytest.mark.parametrize(
    ("side", "megapixels"),
    [
        (10_000, "100"),  # over Pillow's 89 MP: a DecompressionBombWarning (an error here)
        (100_000, "10000"),  # over twice that: a DecompressionBombError
    ],
)
def test_decompression_bombs_are_refused(side: int, megapixels: str) -> None:
    assert problem(png_header(side, side), "bomb.png") == (
        f"is {megapixels} MP, which exceeds the 50 MP limit"
    )


def test_a_higher_configured_limit_lifts_pillows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    # 225 MP passes the header checks; only then does the empty pixel data fail.
    message = problem(png_header(15_000, 15_000), "big.png", max_pixels=300_000_000)
    assert message.startswith("is damaged or truncated")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused(fmt: str) -> None:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), fmt)
    assert problem(data[: len(data) // 2], "cut.img").startswith("is damaged or truncated (")


# --- folders -------------------------------------------------------------------------------


def test_scan_is_recursive_sorted_and_skips_hidden_and_os_clutter(tmp_path: Path) -> None:
    for name in ["b.png", "sub/a.jpg", "sub/deeper/c", "a/empty.png", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"" if "empty" in name else b"1")
    for name in [".DS_Store", ".git/config", "sub/._a.jpg", "Thumbs.db", "sub/desktop.ini"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"1")
    found = [p.relative_to(tmp_path).as_posix() for p in scan_images(tmp_path)]
    # Extensions decide nothing (notes.txt is reported later); empty files are kept too.
    assert found == ["a/empty.png", "b.png", "notes.txt", "sub/a.jpg", "sub/deeper/c"]


def test_load_images_reports_each_bad_file_and_loads_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(encode(Image.new("RGB", (5, 5)), "PNG"))
    (tmp_path / "notes.png").write_text("shopping list")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "big.jpg").write_bytes(b"\x00" * 2000)
    paths = [*sorted(tmp_path.iterdir()), tmp_path / "missing.png"]
    loaded, issues = load_images(paths, max_bytes=1000, max_pixels=1_000_000)
    assert [image.original_name for image in loaded] == ["good.png"]
    problems = {Path(issue.where).name: issue.problem for issue in issues}
    assert problems == {
        "big.jpg": "is 2 KB, over the 1000 bytes limit",
        "empty.jpg": "is empty (0 bytes)",
        "notes.png": "is a text file, not an image",
        "missing.png": "cannot be read (No such file or directory)",
    }
    assert all(Path(issue.where).parent == tmp_path for issue in issues)  # named by path


# --- provider outputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_probe_output_reads_whole_images(fmt: str, mime: str) -> None:
    data = encode(Image.effect_noise((64, 48), 40).convert("RGB"), fmt)
    assert probe_output(data) == (mime, 64, 48)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, -10, -2])
def test_probe_output_refuses_truncated_images(fmt: str, keep: float) -> None:
    data = encode(Image.effect_noise((256, 256), 40).convert("RGB"), fmt)
    cut = data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)]
    with pytest.raises(ProviderUnavailable, match="not a complete image") as caught:
        probe_output(cut)
    assert caught.value.retryable


@pytest.mark.parametrize("garbage", [b"", b"<html>502 Bad Gateway</html>", zlib.compress(b"x")])
def test_probe_output_refuses_garbage(garbage: bytes) -> None:
    with pytest.raises(ProviderUnavailable, match="not a complete image"):
        probe_output(garbage)


def test_thumbnail_keeps_aspect_transparency_and_orientation() -> None:
    thumb = decoded(make_thumbnail(encode(Image.new("RGBA", (1000, 500)), "PNG"), size=100))
    assert (thumb.format, thumb.size, thumb.mode) == ("WEBP", (100, 50), "RGBA")
    upright = decoded(make_thumbnail(rotated_jpeg(), size=16))
    assert upright.size == (8, 16)


def test_heif_support_is_loaded_only_for_a_file_that_may_be_heif() -> None:
    """pillow_heif takes 0.15 s to import: a run without HEIC inputs never pays it."""
    code = (
        "import io, sys; from PIL import Image; "
        "from imagebatch.imaging.inputs import load_image, probe_output; "
        "b = io.BytesIO(); Image.new('RGB', (8, 8)).save(b, 'PNG'); "
        "load_image(b.getvalue(), 'a.png', max_bytes=10**6, max_pixels=10**6); "
        "probe_output(b.getvalue()); print('pillow_heif' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
