"""The `demo` provider: offline placeholder pictures. It is not AI and says so on every image.

Markers in a prompt trigger failures on purpose: [demo:reject], [demo:invalid],
[demo:ratelimit=SECONDS], [demo:unavailable], [demo:hang].
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
from imagebatch.domain.specs import Mode, dimensions
from imagebatch.errors import (
    ContentRejected,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from imagebatch.providers.base import ImageBytes, ProviderRequest, ProviderResult

BANNER = "DEMO - placeholder, not AI"
_MARKER = re.compile(r"\[demo:(\w+)(?:=([\d.]+))?\]")
CAPABILITIES = ProviderCapabilities(
    provider="demo",
    default_model="demo",
    models={
        "demo": ModelCapabilities(
            name="demo",
            description="Offline placeholder pictures for trying the queue. Not AI.",
        )
    },
)


class DemoProvider:
    name: ClassVar[str] = "demo"

    def __init__(
        self, latency_ms: int = 0, failure_rate: float = 0.0, rng_seed: int | None = None
    ) -> None:
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = random.Random(rng_seed)
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def configured(self) -> bool:
        return True

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            await _act_on_markers(request.asked.prompt)
            if self.failure_rate and self._rng.random() < self.failure_rate:
                raise ProviderUnavailable("demo: simulated failure")
            data = await asyncio.to_thread(render, request)
            # The simulated latency is the whole call, drawing included, as a remote API's is.
            await asyncio.sleep(max(0.0, self.latency_ms / 1000 - (time.monotonic() - started)))
            return ProviderResult(
                (ImageBytes(data, "image/jpeg"),),
                request_id=f"demo-{self.calls}",
                seed=request.asked.seed,
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


async def _act_on_markers(prompt: str) -> None:
    for kind, value in _MARKER.findall(prompt):
        error = _marker_error(kind, value)
        if kind == "hang":
            await asyncio.Event().wait()
        if error is not None:
            raise error


def _marker_error(kind: str, value: str) -> ProviderError | None:
    if kind == "reject":
        return ContentRejected("demo: the prompt was rejected by the (simulated) safety filter")
    if kind == "invalid":
        return InvalidRequest("demo: the (simulated) provider refused the parameters")
    if kind == "ratelimit":
        return RateLimited("demo: simulated 429", retry_after=float(value or 1))
    if kind == "unavailable":
        return ProviderUnavailable("demo: simulated 503")
    return None


#: fonts with CJK glyphs that Linux systems often have (Debian's fonts-wqy-*, Noto CJK):
#: Pillow's own font has none, and a Chinese prompt would be drawn as empty boxes
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in CJK_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:  # not on this system
            continue
    return ImageFont.load_default(size)


def _seed_of(request: ProviderRequest) -> bytes:
    # As with a real seeded model, a seed pins the picture: copies differ by variant only
    # when none is given, so a recorded seed reproduces its image whatever copy it was.
    key = [
        request.asked.prompt,
        request.asked.negative_prompt,
        request.asked.seed,
        request.asked.variant if request.asked.seed is None else 0,
        dict(request.asked.params),
        [hashlib.sha256(i.data).hexdigest() for i in request.asked.images],
    ]
    return hashlib.sha256(json.dumps(key, default=str).encode()).digest()


def _shapes(digest: bytes, width: int, height: int) -> Image.Image:
    """Flat shapes in colours taken from the request hash: cheap to draw and to encode."""
    image = Image.new("RGB", (width, height), (digest[0], digest[1], digest[2]))
    draw = ImageDraw.Draw(image)
    cx, cy = width * digest[6] // 255, height * digest[7] // 255
    radius = min(width, height) * (64 + digest[8] % 128) // 255
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=tuple(digest[3:6]))
    x0, y0 = width * digest[9] // 512, height * digest[10] // 512
    draw.rectangle((x0, y0, x0 + width // 3, y0 + height // 4), fill=tuple(digest[11:14]))
    return image


def _scale(width: int) -> int:
    return max(12, width // 40)


@functools.lru_cache(maxsize=32)
def _banner(width: int) -> Image.Image:
    """The "not AI" strip across the top, drawn once per width: text drawing is slow."""
    scale = _scale(width)
    strip = Image.new("RGB", (width, scale * 2), (0, 0, 0))
    ImageDraw.Draw(strip).text((scale // 2, scale // 2), BANNER, (255, 255, 0), _font(scale))
    return strip


def render(request: ProviderRequest) -> bytes:
    digest = _seed_of(request)
    if request.mode is Mode.EDIT and request.asked.images:
        with Image.open(io.BytesIO(request.asked.images[0].data)) as source:
            image = ImageOps.mirror(ImageOps.posterize(source.convert("RGB"), 3))
    else:
        image = _shapes(digest, *dimensions(request.asked.aspect_ratio, request.asked.resolution))
    image.paste(_banner(image.width), (0, 0))
    scale = _scale(image.width)
    ImageDraw.Draw(image).text(
        (scale // 2, scale * 3), request.asked.prompt[:200], fill=(255, 255, 255), font=_font(scale)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
