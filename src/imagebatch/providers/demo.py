"""The `demo` provider: offline placeholder pictures, for trying imagebatch without an API key.

It is not AI and says so on every picture it draws.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import random
import re
import time
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont, ImageOps

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.specs import Mode, Resolution, dimensions
from imagebatch.errors import (
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult

# Pillow's built-in font has no em dash (nor CJK glyphs): an ASCII hyphen stays readable.
BANNER = "DEMO - placeholder, not AI"
JPEG_QUALITY = 85
DEFAULT_RETRY_AFTER = 1.0
_MARKER = re.compile(r"\[demo:([a-z]+)(?:=(\d+(?:\.\d+)?))?\]", re.IGNORECASE)
_MARKERS = ("reject", "invalid", "ratelimit", "unavailable", "hang")
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# One token per CJK character (no spaces to break at), else a word with its trailing spaces.
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+\s*|\s+")

CAPABILITIES = ProviderCapabilities(
    provider="demo",
    default_model="demo",
    models={
        "demo": ModelCapabilities(
            name="demo",
            max_reference_images=4,
            price_per_image=0.0,
            description=(
                "Draws placeholder pictures offline (the prompt as text on coloured shapes; "
                "edits are a posterised, mirrored input). Not AI: for trying the queue."
            ),
        )
    },
)


class DemoProvider:
    """Deterministic placeholder pictures; the same request always gives the same bytes.

    Markers in a prompt trigger each failure on purpose (the first marker counts):

    - ``[demo:reject]``         ContentRejected (final)
    - ``[demo:invalid]``        InvalidRequest (final)
    - ``[demo:ratelimit]``      RateLimited, retry_after 1 s; ``[demo:ratelimit=2.5]`` sets it
    - ``[demo:unavailable]``    ProviderUnavailable (retryable)
    - ``[demo:hang]``           never answers (until cancelled)

    `latency_ms` is the least time every call takes, drawing included, as a remote API's would;
    `failure_rate` is the share of calls that fail with ProviderUnavailable, drawn from a
    random generator seeded with `rng_seed`. `calls`, `in_flight` and `max_in_flight` count
    calls for tests that check concurrency limits.
    """

    name: ClassVar[str] = "demo"

    def __init__(
        self, latency_ms: int = 0, failure_rate: float = 0.0, rng_seed: int | None = None
    ) -> None:
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = random.Random(rng_seed)
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def configured(self) -> bool:
        return True  # needs neither a key nor a network

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        self.calls += 1
        call = self.calls
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            # Drawn on every call, so a seeded generator fails the same calls every run.
            unlucky = self.failure_rate > 0 and self._rng.random() < self.failure_rate
            failure = _marker_failure(request.prompt)
            if failure == "hang":
                await asyncio.get_running_loop().create_future()  # only cancelling ends this
            if isinstance(failure, ProviderError) or unlucky:
                await self._rest_of_latency(started)
                raise failure if isinstance(failure, ProviderError) else _simulated_failure()
            # Drawing a 1K picture takes a few ms of CPU: off the event loop.
            data = await asyncio.to_thread(render, request)
            await self._rest_of_latency(started)
            return ProviderResult((GeneratedImage(data, "image/jpeg"),), request_id=f"demo-{call}")
        finally:
            self.in_flight -= 1

    async def _rest_of_latency(self, started: float) -> None:
        left = self.latency_ms / 1000 - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)

    async def aclose(self) -> None:
        return None


def _simulated_failure() -> ProviderUnavailable:
    return ProviderUnavailable("demo: simulated failure")


def _marker_failure(prompt: str) -> ProviderError | str | None:
    """What the first marker in `prompt` asks for: an error, "hang", or None."""
    found = _MARKER.search(prompt)
    if found is None:
        return None
    kind, value = found.group(1).lower(), found.group(2)
    if kind == "hang":
        return "hang"
    if kind == "reject":
        return ContentRejected("demo: the prompt was rejected by the (simulated) safety filter")
    if kind == "invalid":
        return InvalidRequest("demo: the (simulated) provider refused the request")
    if kind == "ratelimit":
        retry_after = float(value) if value else DEFAULT_RETRY_AFTER
        return RateLimited("demo: simulated rate limit (429)", retry_after=retry_after)
    if kind == "unavailable":
        return ProviderUnavailable("demo: simulated outage (503)")
    known = " ".join(f"[demo:{m}]" for m in _MARKERS)
    return InvalidRequest(f"demo: unknown marker {found.group(0)}; known markers: {known}")


# --- drawing (pure functions of the request, so the same request gives the same bytes) ----


def render(request: ProviderRequest) -> bytes:
    """The picture for `request`, as JPEG bytes."""
    digest = fingerprint(request)
    if request.mode is Mode.EDIT:
        if not request.images:
            raise InvalidRequest("demo: an edit needs an input image")
        cap = (request.resolution or Resolution.K1).long_side
        image = _edited(_open(request.images[0].data, cap), digest)
        references = request.images[1:]
    else:
        image = _placeholder(*dimensions(request.aspect_ratio, request.resolution), digest)
        references = request.images
    _paste_tiles(image, [r.data for r in references])
    _caption(image, request)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def fingerprint(request: ProviderRequest) -> bytes:
    """A digest of everything that makes two requests different pictures."""
    key = {
        "mode": request.mode.value,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "seed": request.seed,
        "variant": request.variant,
        "params": dict(request.params),
        "images": [hashlib.sha256(i.data).hexdigest() for i in request.images],
    }
    text = json.dumps(key, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _colour(digest: bytes, at: int) -> tuple[int, int, int]:
    return digest[at], digest[at + 1], digest[at + 2]


def _placeholder(width: int, height: int, digest: bytes) -> Image.Image:
    """A four-corner gradient and three flat shapes, all coloured from the digest."""
    corners = Image.new("RGB", (2, 2))
    corners.putdata([_colour(digest, i) for i in (0, 3, 6, 9)])
    # A small bilinear gradient scaled up blockwise: ten times cheaper than a full-size one.
    small = corners.resize((max(2, width // 16), max(2, height // 16)), Image.Resampling.BILINEAR)
    image = small.resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    cx, cy = width * digest[12] // 256, height * (64 + digest[13] // 2) // 256
    r = short * (40 + digest[14] // 4) // 256
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_colour(digest, 15))
    x, y = width * digest[18] // 320, height * digest[19] // 320
    draw.rectangle((x, y, x + width // 3, y + height // 4), fill=_colour(digest, 20))
    tx, ty, side = width * digest[23] // 256, height * digest[24] // 400, short // 3
    draw.polygon(
        [(tx, ty), (tx + side, ty + side), (tx - side, ty + side)], fill=_colour(digest, 25)
    )
    return image


def _open(data: bytes, cap: int) -> Image.Image:
    """An input as RGB, at most `cap` pixels on its long side."""
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.draft("RGB", (cap, cap))  # JPEG: decode at a reduced scale, much faster
            image = source.convert("RGB")
    except Exception as error:  # whatever Pillow raises for bytes it cannot read
        raise InvalidRequest(f"demo: cannot read the input image ({error})") from None
    if max(image.size) > cap:
        image.thumbnail((cap, cap), Image.Resampling.BILINEAR)
    return image


def _edited(image: Image.Image, digest: bytes) -> Image.Image:
    """Visibly transformed: fewer colours, channels swapped (chosen by the digest), mirrored."""
    bands = image.split()
    order = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)][digest[0] % 6]
    swapped = Image.merge("RGB", [bands[i] for i in order])
    return ImageOps.mirror(ImageOps.posterize(swapped, 3))


def _paste_tiles(image: Image.Image, references: list[bytes]) -> None:
    """Reference images as small tiles down the right edge: proof that they arrived."""
    side = min(image.size) // 6
    if side < 16:
        return
    y = side // 2
    for data in references[:4]:
        tile = _open(data, side)
        x = image.width - tile.width - side // 8
        image.paste((255, 255, 255), (x - 2, y - 2, x + tile.width + 2, y + tile.height + 2))
        image.paste(tile, (x, y))
        y += tile.height + side // 8


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: Latin only, so Chinese prompts draw as boxes, but never crash.
    return ImageFont.load_default(size)


def _caption(image: Image.Image, request: ProviderRequest) -> None:
    """The banner on top; the prompt, negative prompt and parameters on a panel below."""
    width, height = image.size
    size = max(10, min(width // 36, height // 14))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, size * 2), fill=(0, 0, 0))
    draw.text((size // 2, size // 2), BANNER, fill=(255, 220, 0), font=_font(size))
    lines = _wrap(request.prompt, _font(size), width - size, max(1, height // (3 * size) - 2))
    notes = []
    if request.negative_prompt:
        notes += _wrap(f"not: {request.negative_prompt}", _font(size * 3 // 4), width - size, 2)
    seed = f"seed {request.seed}" if request.seed is not None else "no seed"
    notes.append(f"demo · {seed} · variant {request.variant} · {width}x{height}")
    small = _font(max(8, size * 3 // 4))
    top = height - size // 2 - len(lines) * size * 5 // 4 - len(notes) * size
    draw.rectangle((0, top - size // 2, width, height), fill=(24, 24, 24))
    for line in lines:
        draw.text((size // 2, top), line, fill=(255, 255, 255), font=_font(size))
        top += size * 5 // 4
    for note in notes:
        draw.text((size // 2, top), note, fill=(170, 170, 170), font=small)
        top += size


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, max_lines: int
) -> list[str]:
    """Greedy wrap by measured token widths; the last line ends with … when text is left."""
    lines, line, used = [], "", 0.0
    for token in _TOKEN.findall(" ".join(text.split())):
        length = font.getlength(token)
        if used + length > width and line:
            lines.append(line.rstrip())
            line, used = "", 0.0
        # A token wider than a whole line (a URL) is cut where it reaches the edge.
        while length > width and len(token) > 1:
            cut = max(1, int(len(token) * width / length))
            lines.append(token[:cut])
            token = token[cut:]
            length = font.getlength(token)
        line, used = line + token, used + length
    lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, len(lines[-1]) - 2)] + "…"
    return [line for line in lines if line]
