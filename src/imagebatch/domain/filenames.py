"""Output file names: safe inside the output folder, unique, stable across resumes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from imagebatch.domain.specs import TaskSpec

MAX_STEM = 120
# Names Windows refuses whatever the extension; users share output folders across systems.
RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".heic"})
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def sanitize_stem(wanted: str) -> str:
    """A file stem that cannot leave the output folder: no separators, no dots at the ends."""
    name = unicodedata.normalize("NFC", wanted).strip()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # only the last path component counts
    stem, dot, ext = name.rpartition(".")
    if dot and f".{ext.lower()}" in IMAGE_EXTENSIONS:
        name = stem  # the real extension comes from the image format
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name or name.lower().split(".")[0] in RESERVED:
        name = f"_{name}" if name else ""
    return name[:MAX_STEM].rstrip(" .")


def default_stem(spec: TaskSpec, seq: int) -> str:
    request = spec.request
    if request.input_image:
        base = sanitize_stem(str(request.input_image))
        return f"{base}_edit" if base else f"{seq:05d}"
    words = re.sub(r"[\s/\\_]+", "_", _UNSAFE.sub(" ", request.prompt)).strip("_")[:40]
    slug = sanitize_stem(words).strip("_")
    return f"{seq:05d}_{slug}" if slug else f"{seq:05d}"


def assign_stems(specs: Sequence[TaskSpec], taken: Iterable[str] = ()) -> list[str]:
    """One unique stem per spec; copies of one row get _1.._n, collisions get -2, -3…

    `taken` holds stems already present in the output folder (compared case-insensitively,
    as macOS and Windows do), so other files are never overwritten.
    """
    copies: dict[tuple[str | None, str], int] = {}
    wanted: list[str] = []
    for seq, spec in enumerate(specs):
        base = sanitize_stem(spec.filename) if spec.filename else ""
        wanted.append(base or default_stem(spec, seq))
        key = (spec.source, wanted[-1])
        copies[key] = copies.get(key, 0) + 1
    used = {stem.lower() for stem in taken}
    stems: list[str] = []
    for spec, base in zip(specs, wanted, strict=True):
        stem = f"{base}_{spec.request.variant + 1}" if copies[(spec.source, base)] > 1 else base
        stems.append(unique_stem(stem, used))
    return stems


def unique_stem(stem: str, used: set[str]) -> str:
    """`stem`, or stem-2, stem-3… if it is in `used` (case-insensitively); added to it."""
    candidate, n = stem, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.lower())
    return candidate


EXTENSION_BY_MIME = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


def extension_for(mime: str) -> str:
    return EXTENSION_BY_MIME.get(mime, ".bin")
