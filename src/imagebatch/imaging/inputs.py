"""Input images (edit inputs, reference images): sniffed by content, never by extension; byte- and
pixel-limited before decoding; EXIF orientation applied; stored in a format every provider takes.

Also checks the bytes a provider returned (`probe_output`) and makes thumbnails.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from imagebatch.errors import InputError, InputIssue, Params, ProviderUnavailable
from imagebatch.imaging.sniff import jpeg_ends

#: Pillow opener ids tried on inputs; fewer decoders reachable from user files means fewer
#: parser bugs reachable too. "JPEG" also opens MPO (multi-picture JPEGs from phone cameras).
#: HEIF last: its opener is registered only when a file may be one (_openers)
OPENERS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "HEIF")
SUPPORTED = "use JPEG, PNG, WebP, GIF, BMP or HEIC"
#: formats stored byte for byte when upright; MPO is a JPEG with extra pictures appended
KEPT_AS_IS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MIME_BY_SAVE_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
JPEG_QUALITY = 95
MB = 1024 * 1024
#: how files of formats Pillow cannot (or may not) open start, for a useful refusal
_MAGIC = (
    (0, b"%PDF", "is a PDF document, not an image"),
    (0, b"PK\x03\x04", "is a ZIP archive (or an Office document), not an image"),
    (0, b"II*\x00", "is a TIFF image, which is not supported"),
    (0, b"MM\x00*", "is a TIFF image, which is not supported"),
    (0, b"8BPS", "is a Photoshop file, which is not supported"),
    (4, b"ftypavi", "is an AVIF image, which is not supported"),
)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True, slots=True)
class LoadedImage:
    data: bytes
    mime: str
    width: int
    height: int
    #: hex SHA-256 of `data` (the stored bytes, which differ from the file's when converted)
    sha256: str
    original_name: str


def load_image(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> LoadedImage:
    """Check and normalise one input image; every problem raises InputError naming `name`.

    Kept byte for byte: upright JPEG, PNG, WebP. Re-encoded: rotated images (EXIF orientation),
    GIF (first frame) and BMP to PNG, HEIC to JPEG quality 95 (PNG if it has transparency).
    """
    if not data:
        raise _refuse(name, "is empty (0 bytes)", "export or download it again", "empty_file")
    if len(data) > max_bytes:
        raise _refuse(
            name,
            f"is {human_size(len(data))}, over the {human_size(max_bytes)} limit",
            "shrink or re-compress it, e.g. save it as JPEG",
            "file_too_large",
            {"size": human_size(len(data)), "limit": human_size(max_bytes)},
        )
    with _open(data, name, max_pixels) as image:
        upright = _decode(image, name)
        fmt = image.format or ""
        if fmt in KEPT_AS_IS and upright is image:
            out, mime = data, KEPT_AS_IS[fmt]
        else:
            try:
                out, mime = _reencode(upright, fmt, data)
            except (OSError, ValueError) as error:  # e.g. an EXIF block too big for JPEG
                problem = f"cannot be converted ({error})"
                raise _refuse(name, problem, SUPPORTED, "not_image") from None
    width, height = upright.size
    return LoadedImage(out, mime, width, height, hashlib.sha256(out).hexdigest(), name)


def _openers(data: bytes) -> tuple[str, ...]:
    """OPENERS for `data`, HEIF's registered first when the bytes may be one (an ISO media
    file: `ftyp` at byte 4, which pillow_heif checks too). Only then: importing pillow_heif
    costs 0.15 s, paid by every command that reads images before (issue 17)."""
    if data[4:8] != b"ftyp":
        return OPENERS[:-1]  # Pillow fails on an opener id that nothing has registered
    _register_heif()
    return OPENERS


@functools.cache
def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def _refuse(
    name: str, problem: str, hint: str, code: str, params: Params | None = None
) -> InputError:
    """A file refused; its `name` is a param of every code (the page says which file)."""
    return InputError(InputIssue(name, problem, hint, code, {"name": name, **(params or {})}))


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Read only the header, and refuse too many pixels before anything is decoded."""
    # Pillow's own bomb guard refuses above 2× MAX_IMAGE_PIXELS (and warns above 1×); when the
    # configured limit is higher, lift Pillow's so that ours is the one that decides.
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        image = Image.open(io.BytesIO(data), formats=_openers(data))
    except UnidentifiedImageError:
        raise _refuse(name, _what_it_is(data), SUPPORTED, "not_image") from None
    # The warning arrives as an exception only where warnings are errors (as under pytest);
    # elsewhere it is printed and the size check below refuses the image.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        found = _BOMB_PIXELS.search(str(error))
        pixels = f"{_megapixels(int(found.group(1)))} MP" if found else "too many pixels"
        raise _refuse(
            name,
            f"is {pixels}, which exceeds the {_megapixels(max_pixels)} MP limit",
            "scale it down",
            "too_many_pixels",
            {"size": pixels, "limit": f"{_megapixels(max_pixels)} MP"},
        ) from None
    except Exception as error:  # a malformed header can make a Pillow plugin raise anything
        raise _damaged(name, error) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise _refuse(
            name,
            f"is {width}×{height} pixels, which exceeds the {_megapixels(max_pixels)} MP limit",
            "scale it down",
            "too_many_pixels",
            {"size": f"{width}×{height}", "limit": f"{_megapixels(max_pixels)} MP"},
        )
    return image


def _decode(image: Image.Image, name: str) -> Image.Image:
    """Decode every pixel (so truncation shows now) and return the image upright.

    Returns `image` itself when no rotation was needed.
    """
    try:
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation in range(2, 9):
            return ImageOps.exif_transpose(image)
    except Exception as error:  # decoders raise OSError, SyntaxError, ValueError, struct.error…
        raise _damaged(name, error) from None
    return image


def _damaged(name: str, error: Exception) -> InputError:
    reason = str(error) or type(error).__name__
    problem = f"is damaged or truncated ({reason})"
    return _refuse(name, problem, "export or download it again", "image_damaged")


def _what_it_is(data: bytes) -> str:
    """Why bytes Pillow cannot open are not an input image, as specific as cheaply possible."""
    for offset, magic, problem in _MAGIC:
        if data.startswith(magic, offset):
            return problem
    head = data[:4096]
    lowered = head.lower().lstrip()
    if b"<svg" in lowered:
        return "is an SVG drawing, which is not supported"
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "is an HTML page, not an image"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "is a text file, not an image"
        except UnicodeDecodeError as error:
            if len(data) > len(head) and error.start >= len(head) - 3:  # cut at the 4 KB mark
                return "is a text file, not an image"
    return "is not an image (its content matches no supported format)"


def _reencode(image: Image.Image, fmt: str, data: bytes) -> tuple[bytes, str]:
    target = _target_format(image, fmt)
    options = _metadata(image, target)
    if target == "JPEG":
        options["quality"] = JPEG_QUALITY
        frame = image if image.mode in {"RGB", "L", "CMYK"} else image.convert("RGB")
    elif target == "WEBP":
        options.update(_webp_quality(data))
        frame = image.convert("RGBA" if _has_alpha(image) else "RGB")
    else:
        frame = _png_ready(image)
    buffer = io.BytesIO()
    frame.save(buffer, target, **options)
    return buffer.getvalue(), MIME_BY_SAVE_FORMAT[target]


def _target_format(image: Image.Image, fmt: str) -> str:
    if fmt in {"JPEG", "MPO"}:
        return "JPEG"
    if fmt == "WEBP":
        return "WEBP"
    if fmt == "HEIF":
        return "PNG" if _has_alpha(image) else "JPEG"
    return "PNG"  # GIF, BMP, and rotated PNGs


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA_MODES or "transparency" in image.info


def _png_ready(image: Image.Image) -> Image.Image:
    if _has_alpha(image):
        return image.convert("RGBA")
    if image.mode in {"1", "L", "RGB", "I;16"}:
        return image
    return image.convert("RGB")  # palettes become plain RGB, which every provider takes


def _metadata(image: Image.Image, target: str) -> dict[str, Any]:
    """Colour profile, EXIF and XMP carried over: re-encoding must strip nothing but rotation."""
    info = image.info
    options: dict[str, Any] = {}
    # A CMYK profile would mislabel the RGB pixels JPEG conversion leaves for other modes.
    if info.get("icc_profile") and (image.mode != "CMYK" or target == "JPEG"):
        options["icc_profile"] = info["icc_profile"]
    if info.get("exif"):
        options["exif"] = info["exif"]
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp and target == "PNG":
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        png_info = PngImagePlugin.PngInfo()
        png_info.add_itxt("XML:com.adobe.xmp", text)
        options["pnginfo"] = png_info
    elif xmp:
        options["xmp"] = xmp if isinstance(xmp, bytes) else str(xmp).encode()
    return options


def _webp_quality(data: bytes) -> dict[str, Any]:
    """Lossless stays lossless; a lossy source gets quality 95."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"VP8L":
            return {"lossless": True}
        pos += 8 + size + (size & 1)
    return {"quality": JPEG_QUALITY}


def human_size(count: int) -> str:
    """1.5 MB, 512 KB, 300 bytes."""
    if count >= MB // 10:
        return f"{count / MB:.1f}".removesuffix(".0") + " MB"
    if count >= 1024:
        return f"{count / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{count} bytes"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f}".removesuffix(".0")


# OS clutter that is not hidden by name: Windows thumbnail caches and folder settings.
_JUNK = frozenset({"thumbs.db", "desktop.ini"})


def scan_images(folder: Path) -> list[Path]:
    """Files below `folder` (recursively), sorted; hidden files and folders (a leading dot:
    .DS_Store, ._resource forks, .git) and OS clutter are left out. Content decides the rest:
    a non-image is reported per file by `load_images`."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # prune: never walk into .git
        found += (Path(root, f) for f in files if not f.startswith(".") and f.lower() not in _JUNK)
    return sorted(found)


def load_images(
    paths: Iterable[Path], *, max_bytes: int, max_pixels: int
) -> tuple[list[LoadedImage], list[InputIssue]]:
    """Load every path; each bad file is one issue (named by its path), the rest proceed."""
    loaded: list[LoadedImage] = []
    issues: list[InputIssue] = []
    for path in paths:
        try:
            loaded.append(_load_file(path, max_bytes=max_bytes, max_pixels=max_pixels))
        except InputError as error:
            issues += (replace(i, where=str(path)) for i in error.issues)
    return loaded, issues


def _load_file(path: Path, *, max_bytes: int, max_pixels: int) -> LoadedImage:
    try:
        # Refuse a huge file from its size alone instead of reading it into memory first.
        size = path.stat().st_size
        data = b"" if size > max_bytes else path.read_bytes()
    except OSError as error:
        problem = f"cannot be read ({error.strerror})"
        reason = {"reason": error.strerror or ""}
        raise _refuse(path.name, problem, "check it exists", "file_unreadable", reason) from None
    if size > max_bytes:
        problem = f"is {human_size(size)}, over the {human_size(max_bytes)} limit"
        hint = "shrink or re-compress it, e.g. save it as JPEG"
        sizes = {"size": human_size(size), "limit": human_size(max_bytes)}
        raise _refuse(path.name, problem, hint, "file_too_large", sizes)
    return load_image(data, path.name, max_bytes=max_bytes, max_pixels=max_pixels)


# How a complete file ends: a download or base64 string cut short lacks it.
_PNG_END = b"IEND\xaeB`\x82"


def probe_output(data: bytes) -> tuple[str, int, int]:
    """(mime, width, height) of bytes a provider returned.

    Garbage and truncated images raise ProviderUnavailable (retryable: a second call usually
    returns a whole image). The check is cheap: PNG chunk CRCs and the IEND trailer, JPEG by its
    end marker after the scan starts, WebP by its RIFF size; no pixels are decoded.
    """
    try:
        _openers(data)
        with Image.open(io.BytesIO(data)) as image:
            fmt, size = image.format or "", image.size
            _check_complete(image, fmt, data)
    except ProviderUnavailable:
        raise
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise ProviderUnavailable(
            f"provider returned data that is not a complete image: {reason}"
        ) from None
    mime = "image/jpeg" if fmt == "MPO" else Image.MIME.get(fmt, "application/octet-stream")
    return mime, size[0], size[1]


def _check_complete(image: Image.Image, fmt: str, data: bytes) -> None:
    if fmt == "PNG":
        image.verify()  # every chunk's CRC up to IEND, without inflating the pixels
        complete = data.endswith(_PNG_END)
    elif fmt == "WEBP":
        complete = int.from_bytes(data[4:8], "little") + 8 <= len(data)
    elif fmt in {"JPEG", "MPO"}:
        complete = jpeg_ends(data)  # the headers parsed above; the scan is not decoded
    else:
        image.load()
        complete = True
    if not complete:
        raise ProviderUnavailable("provider returned data that is not a complete image: truncated")


def make_thumbnail(data: bytes, size: int = 256) -> bytes:
    """A WebP at most `size` pixels on its long side, upright, aspect and transparency kept.

    `data` must already have passed `load_image` or `probe_output`."""
    _openers(data)
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))  # JPEGs decode at reduced scale: much faster
        small = ImageOps.exif_transpose(image)  # a square box fits either orientation
        small = small.convert("RGBA" if _has_alpha(small) else "RGB")
        buffer = io.BytesIO()
        small.save(buffer, "WEBP", quality=80)
    return buffer.getvalue()
