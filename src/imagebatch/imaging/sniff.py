"""What stored image bytes are, told by their first bytes: the Content-Type an image is served with.

Never a type an uploader claimed, a file extension or a column in the database: a file that
is not one of the image formats we store (say an SVG or HTML page that slipped in as
"image.png") is named by no signature here, and is then only ever offered as a download.
Signatures rather than a Pillow decode: only the first chunk of a file is at hand when the
answer starts, and a JPEG's header can be longer than that.
"""

from __future__ import annotations

#: bytes enough to tell every format below apart
HEAD_BYTES = 12
_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_mime(head: bytes) -> str | None:
    """The image type `head` (a file's first HEAD_BYTES or more) starts, or None."""
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
