"""Provenance in every output: an XMP packet (PNG iTXt, JPEG APP1, WebP) plus, in PNGs, an
`imagebatch` iTXt chunk with the JSON. PNG and JPEG are stamped without re-encoding pixels."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from collections.abc import Mapping
from html import escape, unescape

from PIL import Image

NS = "https://imagebatch.dev/ns/1.0/"
XMP_KEY = b"XML:com.adobe.xmp"
OWN_KEY = b"imagebatch"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_PROPERTY = re.compile(r'imagebatch:provenance="([^"]*)"')


def xmp_packet(info: Mapping[str, object]) -> bytes:
    payload = escape(json.dumps(info, ensure_ascii=False, default=str), quote=True)
    prompt = escape(str(info.get("prompt") or ""), quote=True)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:imagebatch="{NS}" '
        f'xmp:CreatorTool="imagebatch" imagebatch:provenance="{payload}">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{prompt}</rdf:li></rdf:Alt>'
        "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def embed(data: bytes, mime: str, info: Mapping[str, object]) -> bytes:
    packet = xmp_packet(info)
    if mime == "image/png":
        own = json.dumps(info, ensure_ascii=False, default=str).encode()
        return _png_with(data, [(XMP_KEY, packet), (OWN_KEY, own)])
    if mime == "image/jpeg":
        return _jpeg_with(data, packet)
    if mime == "image/webp":
        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.save(buffer, "WEBP", quality=95, xmp=packet)
        return buffer.getvalue()
    return data


def _itxt(keyword: bytes, text: bytes) -> bytes:
    body = keyword + b"\x00\x00\x00\x00\x00" + text
    return (
        struct.pack(">I", len(body))
        + b"iTXt"
        + body
        + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    )


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos : pos + 12 + length]))
        pos += 12 + length
    return chunks


def _png_with(data: bytes, texts: list[tuple[bytes, bytes]]) -> bytes:
    keys = {key for key, _ in texts}
    kept = [
        raw
        for kind, raw in _png_chunks(data)
        if not (kind == b"iTXt" and raw[8:].split(b"\x00", 1)[0] in keys)
    ]
    new = b"".join(_itxt(key, text) for key, text in texts)
    # Right after IHDR: readers that stop at the pixel data still find it.
    return data[:8] + kept[0] + new + b"".join(kept[1:])


def _jpeg_with(data: bytes, packet: bytes) -> bytes:
    segment = JPEG_XMP_HEADER + packet
    app1 = b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
    pos = 2
    while data[pos : pos + 2] in (b"\xff\xe0",) or _is_our_xmp(data, pos):
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if _is_our_xmp(data, pos):
            data = data[:pos] + data[pos + 2 + length :]
            continue
        pos += 2 + length
    return data[:pos] + app1 + data[pos:]


def _is_our_xmp(data: bytes, pos: int) -> bool:
    return data[pos : pos + 2] == b"\xff\xe1" and data[pos + 4 : pos + 4 + 29] == JPEG_XMP_HEADER


def read(data: bytes) -> dict[str, object] | None:
    if data.startswith(b"\x89PNG"):
        for kind, raw in _png_chunks(data):
            if kind == b"iTXt" and raw[8:].startswith(OWN_KEY + b"\x00"):
                return json.loads(raw[8 + len(OWN_KEY) + 5 : -4])  # type: ignore[no-any-return]
    match = _PROPERTY.search(data.decode("latin-1"))
    if match is None:
        return None
    text = match.group(1).encode("latin-1").decode("utf-8")
    return json.loads(unescape(text))  # type: ignore[no-any-return]
