"""Provenance in every output: what made the image, readable by any XMP-aware tool.

The record (a JSON object: prompt, params, provider, model, batch and task ids…) goes into an
XMP packet: dc:description holds the prompt, xmp:CreatorTool says imagebatch, and
imagebatch:provenance the whole JSON. Where it goes, always without re-encoding a pixel:

- PNG: an iTXt `XML:com.adobe.xmp` chunk plus an iTXt `imagebatch` chunk with the bare JSON,
  both right after IHDR (before the pixel data, where streaming readers and Pillow's `info`
  find them without decoding).
- JPEG: an APP1 XMP segment after SOI and any JFIF APP0 / Exif APP1 segments.
- WebP: an `XMP ` chunk (a simple-format file gains the VP8X header that announces it).

An XMP packet already in the file (a provider's own) keeps its properties: ours is added as
one more rdf:Description, replacing only an earlier imagebatch one, so stamping twice leaves
one record.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Mapping
from xml.etree import ElementTree
from xml.sax.saxutils import escape

NS = "https://imagebatch.dev/ns/1.0/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
JSON_KEYWORD = b"imagebatch"
JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
#: an APP1 segment's payload after its length field; longer packets need Extended XMP
JPEG_XMP_ROOM = 65533 - len(JPEG_XMP)
#: a string this long is cut when the record would not fit a JPEG's XMP segment otherwise
LONG_TEXT = 2000
WEBP_XMP_FLAG = 0x04
WEBP_ALPHA_FLAG = 0x10

_ENVELOPE = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    "</rdf:RDF></x:xmpmeta>\n"
    '<?xpacket end="w"?>'
)
_OURS = re.compile(
    r"<rdf:Description\b[^>]*\bxmlns:imagebatch=\"" + re.escape(NS) + r"\".*?</rdf:Description>",
    re.DOTALL,
)
#: characters XML 1.0 forbids even escaped; a prompt may hold them, the packet must not
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: code points JSON may carry raw but UTF-8 or XML cannot; inside JSON strings they escape
_NOT_JSON_SAFE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def embed(data: bytes, mime: str, info: Mapping[str, object]) -> bytes:
    """`data` with provenance `info` (JSON-able; other values are stored as str) embedded.

    Formats other than PNG, JPEG and WebP come back unchanged; bytes that are not the format
    `mime` names raise ValueError (outputs pass `probe_output` first, so they are).
    """
    if mime == "image/png":
        return _embed_png(data, info)
    if mime == "image/jpeg":
        return _embed_jpeg(data, info)
    if mime == "image/webp":
        return _embed_webp(data, info)
    return data


def read(data: bytes) -> dict[str, object] | None:
    """The provenance record embedded in a PNG, JPEG or WebP, or None if there is none."""
    if data.startswith(PNG_SIGNATURE):
        return _read_png(data)
    if data.startswith(b"\xff\xd8"):
        return _from_xmp(_jpeg_xmp(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _from_xmp(_webp_xmp(data))
    return None


# --- the XMP packet ------------------------------------------------------------------------


def to_json(info: Mapping[str, object]) -> str:
    text = json.dumps(info, ensure_ascii=False, default=str, separators=(",", ":"))
    return _NOT_JSON_SAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def xmp_packet(info: Mapping[str, object], existing: bytes | None = None) -> bytes:
    """Our rdf:Description inside `existing` (a provider's packet) or a packet of its own."""
    packet = existing.decode("utf-8", "replace") if existing else ""
    packet = _OURS.sub("", packet)
    if "</rdf:RDF>" not in packet:
        packet = _ENVELOPE  # none, or not one we could add to without breaking it
    prompt = escape(_NOT_XML.sub("", str(info.get("prompt") or "")))
    # One value per property in a packet: leave a provider's tool name and description alone.
    creator = "" if "CreatorTool" in packet else "<xmp:CreatorTool>imagebatch</xmp:CreatorTool>"
    description = (
        ""
        if "dc:description" in packet
        else f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{prompt}</rdf:li>'
        "</rdf:Alt></dc:description>"
    )
    ours = (
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:imagebatch="{NS}">'
        f"{creator}{description}"
        f"<imagebatch:provenance>{escape(to_json(info))}</imagebatch:provenance>"
        "</rdf:Description>"
    )
    at = packet.rindex("</rdf:RDF>")
    return (packet[:at] + ours + packet[at:]).encode()


def _from_xmp(packet: bytes | None) -> dict[str, object] | None:
    # Only our own kind of packet is parsed: no DTDs, hence no entity expansion tricks.
    if not packet or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return None
    tag = f"{{{NS}}}provenance"
    for element in root.iter():
        # Tools that rewrite XMP may turn our element into an attribute; accept both.
        text = element.text if element.tag == tag else element.get(tag)
        if text:
            return _record(text)
    return None


def _record(text: str) -> dict[str, object] | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


# --- PNG -----------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, memoryview]]:
    """(type, whole chunk) pairs, IEND included; anything after IEND is dropped. Chunks are
    views of `data`: the image data is copied once, into the file that is written."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    view = memoryview(data)
    chunks: list[tuple[bytes, memoryview]] = []
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, view[pos : pos + 12 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("not a PNG file: no IHDR chunk first")
    return chunks


def _itxt_fields(chunk: bytes) -> tuple[bytes, bytes] | None:
    """(keyword, text as UTF-8) of a whole iTXt chunk; None if it is malformed."""
    try:
        keyword, rest = chunk[8:-4].split(b"\x00", 1)
        compressed, _method, rest = rest[0], rest[1], rest[2:]
        _language, _translated, text = rest.split(b"\x00", 2)
        return keyword, zlib.decompress(text) if compressed else text
    except (ValueError, IndexError, zlib.error):
        return None


def _itxt(keyword: bytes, text: bytes) -> bytes:
    # Uncompressed, no language: the XMP specification requires that for XMP in PNG.
    body = b"iTXt" + keyword + b"\x00\x00\x00\x00\x00" + text
    return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))


def _embed_png(data: bytes, info: Mapping[str, object]) -> bytes:
    chunks = _png_chunks(data)
    existing: bytes | None = None
    kept: list[memoryview] = []
    for kind, raw in chunks:
        fields = _itxt_fields(bytes(raw)) if kind == b"iTXt" else None
        if fields and fields[0] == XMP_KEYWORD:
            existing = fields[1]
        elif not (fields and fields[0] == JSON_KEYWORD):
            kept.append(raw)
    ours = _itxt(XMP_KEYWORD, xmp_packet(info, existing)) + _itxt(
        JSON_KEYWORD, to_json(info).encode()
    )
    return b"".join([PNG_SIGNATURE, kept[0], ours, *kept[1:]])


def _read_png(data: bytes) -> dict[str, object] | None:
    xmp: bytes | None = None
    try:
        chunks = _png_chunks(data)
    except (ValueError, struct.error):
        return None
    for kind, raw in chunks:
        fields = _itxt_fields(bytes(raw)) if kind == b"iTXt" else None
        if fields and fields[0] == JSON_KEYWORD:
            return _record(fields[1].decode("utf-8", "replace"))
        if fields and fields[0] == XMP_KEYWORD:
            xmp = fields[1]
    return _from_xmp(xmp)


# --- JPEG ----------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[bytes], int]:
    """The whole marker segments between SOI and SOS, and where SOS starts."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file")
    segments: list[bytes] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"not a JPEG file: no marker at byte {pos}")
        if data[pos + 1] == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if data[pos + 1] == 0xDA:
            return segments, pos
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    raise ValueError("not a JPEG file: no image data")


def _is_xmp(segment: bytes) -> bool:
    return segment[1] == 0xE1 and segment[4:].startswith(JPEG_XMP)


def _leads(segment: bytes) -> bool:
    """Whether a segment must stay in front of ours: JFIF wants to be first, then Exif."""
    return segment[1] == 0xE0 or (segment[1] == 0xE1 and segment[4:10] == b"Exif\x00\x00")


def _embed_jpeg(data: bytes, info: Mapping[str, object]) -> bytes:
    segments, scan = _jpeg_segments(data)
    existing = next((s[4 + len(JPEG_XMP) :] for s in segments if _is_xmp(s)), None)
    packet = xmp_packet(info, existing)
    if len(packet) > JPEG_XMP_ROOM:
        packet = xmp_packet(_shortened(info), existing)
    if len(packet) > JPEG_XMP_ROOM:
        raise ValueError(f"provenance of {len(packet)} bytes does not fit a JPEG XMP segment")
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(JPEG_XMP) + len(packet)) + JPEG_XMP + packet
    kept = [s for s in segments if not _is_xmp(s)]
    at = next((i for i, s in enumerate(kept) if not _leads(s)), len(kept))
    # the scan (nearly all of the file) as a view: copied once, by the join
    return b"".join([b"\xff\xd8", *kept[:at], app1, *kept[at:], memoryview(data)[scan:]])


def _shortened(info: Mapping[str, object]) -> dict[str, object]:
    """The record with long texts cut, marked as such: rare (a huge prompt), but possible."""
    short = {
        key: value[:LONG_TEXT] + "…" if isinstance(value, str) and len(value) > LONG_TEXT else value
        for key, value in info.items()
    }
    return {**short, "truncated": True}


def _jpeg_xmp(data: bytes) -> bytes | None:
    try:
        segments, _ = _jpeg_segments(data)
    except (ValueError, struct.error):
        return None
    return next((s[4 + len(JPEG_XMP) :] for s in segments if _is_xmp(s)), None)


# --- WebP ----------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= end:
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def _vp8x_for(fourcc: bytes, payload: bytes) -> bytes:
    """The VP8X header a simple (single-chunk) WebP needs before it may carry metadata."""
    flags = 0
    if fourcc == b"VP8L":  # lossless: 14-bit width-1, 14-bit height-1, then the alpha bit
        bits = int.from_bytes(payload[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        flags |= WEBP_ALPHA_FLAG if bits >> 28 & 1 else 0
    elif fourcc == b"VP8 " and payload[3:6] == b"\x9d\x01\x2a":  # lossy: after the start code
        width = int.from_bytes(payload[6:8], "little") & 0x3FFF
        height = int.from_bytes(payload[8:10], "little") & 0x3FFF
    else:
        raise ValueError("not a WebP file: unknown image chunk")
    return (
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def _embed_webp(data: bytes, info: Mapping[str, object]) -> bytes:
    chunks = _webp_chunks(data)
    existing = next((p for f, p in chunks if f == b"XMP "), None)
    chunks = [(f, p) for f, p in chunks if f != b"XMP "]
    if chunks[0][0] != b"VP8X":
        chunks.insert(0, (b"VP8X", _vp8x_for(*chunks[0])))
    header = chunks[0][1]
    chunks[0] = (b"VP8X", bytes([header[0] | WEBP_XMP_FLAG]) + header[1:])
    # XMP comes after the image data and EXIF (the container's required order).
    image_chunks = {b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"EXIF"}
    at = 1 + max((i for i, (f, _) in enumerate(chunks) if f in image_chunks), default=0)
    chunks.insert(at, (b"XMP ", xmp_packet(info, existing)))
    body = b"WEBP" + b"".join(_riff_chunk(f, p) for f, p in chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) & 1 else b""
    return fourcc + len(payload).to_bytes(4, "little") + payload + pad


def _webp_xmp(data: bytes) -> bytes | None:
    try:
        chunks = _webp_chunks(data)
    except ValueError:
        return None
    return next((p for f, p in chunks if f == b"XMP "), None)
