"""Input images: sniffed by content, size- and pixel-limited, EXIF orientation applied."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from imagebatch.errors import InputError, InputIssue, ProviderUnavailable

pillow_heif.register_heif_opener()

KEPT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
ACCEPTED = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "HEIF"}


@dataclass(frozen=True, slots=True)
class LoadedImage:
    data: bytes
    mime: str
    width: int
    height: int
    sha256: str
    original_name: str


def load_image(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> LoadedImage:
    def refuse(problem: str, hint: str) -> InputError:
        return InputError(InputIssue(name, problem, hint))

    if not data:
        raise refuse("is empty", "remove it or export it again")
    if len(data) > max_bytes:
        size, limit = len(data) / 1_048_576, max_bytes / 1_048_576
        raise refuse(f"is {size:.1f} MB, the limit is {limit:.0f} MB", "shrink the image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in ACCEPTED:
                raise refuse(
                    f"is a {fmt or 'unknown'} file", "use JPEG, PNG, WebP, GIF, BMP or HEIC"
                )
            if image.width * image.height > max_pixels:
                mp = image.width * image.height / 1e6
                raise refuse(
                    f"is {image.width}×{image.height} pixels ({mp:.0f} MP), the limit is "
                    f"{max_pixels / 1e6:.0f} MP",
                    "scale it down",
                )
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(found.group(1)) / 1e6:.0f} MP" if found else "too many pixels"
        raise refuse(
            f"is {pixels}, the limit is {max_pixels / 1e6:.0f} MP (a decompression bomb?)",
            "scale it down",
        ) from None
    except UnidentifiedImageError:
        raise refuse("is not an image", "use JPEG, PNG, WebP, GIF, BMP or HEIC") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise refuse(f"is damaged or truncated ({error})", "export it again") from None
    return _normalise(image, fmt, data, name)


def _normalise(image: Image.Image, fmt: str, data: bytes, name: str) -> LoadedImage:
    upright = ImageOps.exif_transpose(image)
    rotated = upright.size != image.size or (upright is not image and _orientation(image) > 1)
    if fmt in KEPT_AS_IS and not rotated:
        out, mime = data, KEPT_AS_IS[fmt]
    elif fmt in {"JPEG", "HEIF"}:
        buffer = io.BytesIO()
        upright.convert("RGB").save(buffer, "JPEG", quality=95)
        out, mime = buffer.getvalue(), "image/jpeg"
    else:
        buffer = io.BytesIO()
        frame = upright.convert("RGBA") if upright.mode in {"P", "LA", "RGBA"} else upright
        frame.save(buffer, "PNG")
        out, mime = buffer.getvalue(), "image/png"
    width, height = upright.size
    return LoadedImage(out, mime, width, height, hashlib.sha256(out).hexdigest(), name)


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(0x0112, 1) or 1)


def scan_images(folder: Path) -> list[Path]:
    """Files below `folder`, sorted; hidden files and folders are left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


# How a complete file of each format ends: a truncated download or base64 string fails this
# without decoding every pixel (outputs can be 4K; decoding each would cost more than the rest
# of the pipeline together).
_TRAILERS = {"JPEG": (b"\xff\xd9",), "PNG": (b"IEND\xaeB`\x82",), "GIF": (b";",)}


def probe_output(data: bytes) -> tuple[str, int, int]:
    """(mime, width, height) of bytes a provider returned; garbage is a retryable error."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, size = image.format or "", image.size
            if fmt == "WEBP":
                complete = int.from_bytes(data[4:8], "little") + 8 == len(data)
            elif fmt in _TRAILERS:
                complete = data.rstrip(b"\x00").endswith(_TRAILERS[fmt])
            else:
                image.load()
                complete = True
    except Exception as error:
        raise ProviderUnavailable(
            f"provider returned data that is not a complete image: {error}"
        ) from None
    if not complete:
        raise ProviderUnavailable("provider returned a truncated image")
    mime = Image.MIME.get(fmt, "application/octet-stream")
    return mime, size[0], size[1]


def make_thumbnail(data: bytes, size: int = 256) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "WEBP", quality=80)
    return buffer.getvalue()
