"""Content-Disposition headers that any name can go into (RFC 6266 with RFC 5987's `filename*`).

Names come from users (batch names, uploaded file names) and may hold anything: CR/LF (which
would end the header and make the server drop the connection), quotes, `;`, Chinese, emoji,
bidi overrides that make "gpj.exe" look like "exe.jpg", or ten thousand characters. Every
answer carries an ASCII-only `filename="…"` for old clients and the exact (but cleaned) name
percent-encoded in `filename*=UTF-8''…`, which every current browser prefers.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

#: characters of a name kept, extension included: enough for any real name, and a header
#: (at most 9 bytes a character once percent-encoded) stays well under proxies' limits
MAX_NAME_CHARS = 150
FALLBACK_NAME = "download"
# Control characters, path separators, and the bidi controls that reorder what is shown.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What a quoted ASCII fallback may keep: no quotes, backslashes, `;` or `%` (some clients
# split on `;` or percent-decode the fallback), no control characters.
_NOT_FALLBACK = re.compile(r"[^A-Za-z0-9 !#$&'()*+,.=@\[\]^_`{|}~-]")


def disposition(name: str, *, inline: bool = False) -> str:
    """`inline` (shown in the browser) or `attachment` (saved), under a cleaned `name`."""
    clean = _clean(name)
    fallback = _ascii_fallback(clean)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _clean(name: str) -> str:
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name).strip()).strip()
    return _shorten(cleaned) or FALLBACK_NAME


def _shorten(name: str) -> str:
    """At most MAX_NAME_CHARS characters, keeping a short extension."""
    if len(name) <= MAX_NAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 10:
        return name[:MAX_NAME_CHARS]
    return stem[: MAX_NAME_CHARS - len(extension) - 1] + "." + extension


def _ascii_fallback(name: str) -> str:
    # NFKD splits "é" into "e" and an accent, so Latin names keep their letters.
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_FALLBACK.sub("_", letters)
