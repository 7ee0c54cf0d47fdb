from __future__ import annotations

import io
from typing import Any
from xml.etree import ElementTree

import pytest
from PIL import Image

from imagebatch.imaging import provenance

INFO: dict[str, object] = {
    "prompt": '一只猫 & a "dog" <b>\nsecond line 🐈',
    "negative_prompt": "模糊",
    "params": {"quality": "high", "steps": 30},
    "provider": "demo",
    "model": "demo",
    "batch_id": 7,
    "task_id": 42,
    "seed": None,
    "created_at": "2026-11-24T03:00:00Z",
    "generator": "imagebatch 0.1.0",
}
FORMATS: list[tuple[str, str, dict[str, Any]]] = [
    ("PNG", "image/png", {}),
    ("JPEG", "image/jpeg", {"quality": 90}),
    ("WEBP", "image/webp", {"quality": 80}),
    ("WEBP", "image/webp", {"lossless": True}),
]
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def encode(fmt: str, mode: str = "RGB", **options: Any) -> bytes:
    image = Image.effect_noise((48, 32), 30).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(image.size))  # real transparency
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        copy = image.copy()
        copy.info, copy.format = dict(image.info), image.format
        return copy


def pixels(data: bytes) -> bytes:
    return opened(data).tobytes()


@pytest.mark.parametrize(("fmt", "mime", "options"), FORMATS)
def test_round_trip_keeps_every_pixel(fmt: str, mime: str, options: dict[str, Any]) -> None:
    original = encode(fmt, **options)
    stamped = provenance.embed(original, mime, INFO)
    assert provenance.read(stamped) == INFO
    assert pixels(stamped) == pixels(original)  # metadata only: nothing was re-encoded
    assert opened(stamped).format == fmt


@pytest.mark.parametrize(("fmt", "mime", "options"), FORMATS)
def test_stamping_twice_keeps_one_record(fmt: str, mime: str, options: dict[str, Any]) -> None:
    once = provenance.embed(encode(fmt, **options), mime, {"prompt": "old"})
    twice = provenance.embed(once, mime, INFO)
    assert provenance.read(twice) == INFO
    assert twice.count(b"<imagebatch:provenance>") == 1
    assert twice.count(b"<x:xmpmeta") == 1
    assert pixels(twice) == pixels(once)


def test_png_chunks_are_valid_and_seen_by_pillow() -> None:
    stamped = provenance.embed(encode("PNG"), "image/png", INFO)
    with Image.open(io.BytesIO(stamped)) as image:
        image.verify()  # every chunk CRC
    with Image.open(io.BytesIO(stamped)) as image:
        # Before the pixel data, so Pillow has them without decoding.
        assert "XML:com.adobe.xmp" in image.info and "imagebatch" in image.info


@pytest.mark.parametrize(("fmt", "mime", "options"), FORMATS)
def test_xmp_packet_is_well_formed_rdf(fmt: str, mime: str, options: dict[str, Any]) -> None:
    stamped = provenance.embed(encode(fmt, **options), mime, INFO)
    packet = opened(stamped).info.get("xmp") or opened(stamped).info["XML:com.adobe.xmp"]
    root = ElementTree.fromstring(packet)
    (description,) = root.iter(f"{RDF}Description")
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert description.findtext(f"{dc}description/{RDF}Alt/{RDF}li") == INFO["prompt"]
    assert description.findtext("{http://ns.adobe.com/xap/1.0/}CreatorTool") == "imagebatch"
    assert description.find(f"{{{provenance.NS}}}provenance") is not None


def test_jpeg_segment_order_jfif_then_exif_then_xmp() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneCo"
    stamped = provenance.embed(encode("JPEG", exif=exif), "image/jpeg", INFO)
    assert stamped[2:4] == b"\xff\xe0" and stamped[6:11] == b"JFIF\x00"
    assert stamped.index(b"Exif\x00\x00") < stamped.index(provenance.JPEG_XMP)
    assert opened(stamped).getexif()[0x010F] == "PhoneCo"


def test_a_providers_own_xmp_is_kept_beside_ours() -> None:
    theirs = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" '
        b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        b'Iptc4xmpExt:DigitalSourceType="trainedAlgorithmicMedia"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    for fmt, mime in [("JPEG", "image/jpeg"), ("WEBP", "image/webp")]:
        stamped = provenance.embed(encode(fmt, xmp=theirs), mime, INFO)
        stamped = provenance.embed(stamped, mime, INFO)
        assert provenance.read(stamped) == INFO
        assert stamped.count(b"trainedAlgorithmicMedia") == 1
        assert stamped.count(b"<x:xmpmeta") == 1


def test_simple_webp_gains_a_vp8x_header_and_keeps_transparency() -> None:
    original = encode("WEBP", mode="RGBA", lossless=True)
    assert original[12:16] == b"VP8L"
    stamped = provenance.embed(original, "image/webp", INFO)
    assert stamped[12:16] == b"VP8X"
    image = opened(stamped)
    assert (image.mode, image.size) == ("RGBA", (48, 32))
    assert pixels(stamped) == pixels(original)


def test_a_huge_prompt_is_cut_to_fit_a_jpeg_segment() -> None:
    info = {**INFO, "prompt": "cat " * 20_000}
    found = provenance.read(provenance.embed(encode("JPEG"), "image/jpeg", info))
    assert found is not None and found["truncated"] is True
    assert str(found["prompt"]).startswith("cat cat") and found["batch_id"] == 7
    png = provenance.embed(encode("PNG"), "image/png", info)  # PNG chunks have room
    assert provenance.read(png) == info


def test_xml_invalid_characters_do_not_break_the_packet() -> None:
    info = {"prompt": "bell\x07 and \ufffe and lone \udc80 surrogate"}
    for fmt, mime, options in FORMATS:
        assert provenance.read(provenance.embed(encode(fmt, **options), mime, info)) == info


def test_files_without_provenance_read_as_none() -> None:
    assert provenance.read(encode("PNG")) is None
    assert provenance.read(encode("JPEG")) is None
    assert provenance.read(encode("WEBP")) is None
    assert provenance.read(b"not an image at all") is None
    assert provenance.read(b"\x89PNG\r\n\x1a\n garbage") is None


def test_other_formats_pass_through_unchanged() -> None:
    gif = encode("GIF")
    assert provenance.embed(gif, "image/gif", INFO) == gif
