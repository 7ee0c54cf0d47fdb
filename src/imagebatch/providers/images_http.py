"""The OpenAI Images API's two calls (generations, edits) over a plain HTTP client.

Used instead of the official SDK for image calls: the SDK adds CPU to every call (request
building, transforms, typed parsing: 3.3 against 2.9 ms a call at 50 at once, 200 KB answers)
and 1.3 s of CPU to start (its import), for nothing used here (its retries are off: the engine
owns them). The Batch API of economy mode stays on the SDK (openai_batch.py).

aiohttp rather than httpx2: once the SDK was gone, the HTTP client was the engine's largest
CPU cost per image, and aiohttp's is a quarter of httpx2's (0.25 against 1.0 CPU ms a call at
10 at once, 0.45 against 2.0 at 200: bench/RESULTS.md, "the engine's own share"); it is also
what the issue's bare-client baseline uses. The wire is what the SDK sends: JSON for
generations; multipart for edits, a lone image as `image` and several as `image[]`.
HttpSession, the session with its error translation, carries Gemini's calls too (gemini.py).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from imagebatch import __version__
from imagebatch.errors import ConnectionFailed
from imagebatch.providers.base import ImageBytes
from imagebatch.providers.transport import network_errors

#: connections per session, every one kept alive: at a concurrency above the number kept
#: alive, each call past it opened a new connection (measured with httpx2's default of 100:
#: 343-613 connections for 4,000 calls at 200 at once, bench/queue.py --provider http)
CONNECTIONS = 1000
#: seconds an idle connection is kept, as httpx did: below the 5 s after which uvicorn and
#: other servers close theirs, so a call rarely meets a connection closing under it
KEEPALIVE_SECONDS = 5.0
#: aiohttp gives up at this redirect answer: 20 followed, as httpx did (aiohttp's default: 9)
MAX_REDIRECTS = 21
#: headers the SDK adds when these variables are set
SDK_ENVIRONMENT = {"OpenAI-Organization": "OPENAI_ORG_ID", "OpenAI-Project": "OPENAI_PROJECT_ID"}
#: aiohttp's classes for a refused, reset or broken connection (its timeouts are TimeoutErrors)
BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
#: an Images API answer's image field, and what comes before its base64 text
_B64_KEY = b'"b64_json"'
_B64_VALUE = re.compile(rb'\s*:\s*"')
#: what stands in the image's place while the rest of the answer is parsed: a text that is
#: not base64, so no answer's own field can be mistaken for it
_MARKER = b"\\u0000lifted"
_MARKED = "\x00lifted"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: the decoded JSON, or None when the body is not JSON
    body: Any
    #: case-insensitive (Retry-After, retry-after-ms…)
    headers: Mapping[str, str]
    request_id: str | None
    #: the start of a body that is not JSON, for the error message
    text: str


class HttpSession:
    """One aiohttp session for one provider, made at its first call: a session belongs to
    the event loop it was made in. The key travels per request: the session keeps none."""

    def __init__(
        self, provider: str, timeout: float, headers: Mapping[str, str] | None = None
    ) -> None:
        self._provider = provider
        self._timeout = timeout
        #: sent with every call: ours, plus what the owning provider adds
        self._headers = {"User-Agent": f"imagebatch/{__version__}", **(headers or {})}
        self._session: aiohttp.ClientSession | None = None
        #: the proxy of each origin, read from the environment once
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        content: bytes | None = None,
        form: aiohttp.FormData | None = None,
        lift_image: bool = False,
    ) -> Answer:
        """One POST whose answer is read whole, network failures translated. `lift_image`:
        a success's first `data[0].b64_json` stays in the raw body (`lifted_image`)."""
        session = self._session or self._open()
        try:
            with network_errors(self._provider, BROKEN):
                async with session.post(
                    url,
                    headers=headers,
                    data=content if form is None else form,
                    proxy=self._proxy(url),
                    max_redirects=MAX_REDIRECTS,
                ) as response:
                    raw = await response.read()
        except aiohttp.ClientError as error:  # too many redirects, an invalid URL…
            # as the SDK classed them: retryable, like a connection that broke
            raise ConnectionFailed(f"{self._provider}: {type(error).__name__}") from None
        if lift_image and response.status < 300:
            return _answer(response.status, response.headers, raw, lifted_image(raw))
        return _answer(response.status, response.headers, raw)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS)
        # trust_env stays off: with it aiohttp reads ~/.netrc in a thread at every request
        # (and refuses a request whose host it names: we send our own Authorization);
        # proxies from the environment are taken by _proxy() instead, as httpx took them
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers=self._headers,
        )
        return self._session

    def _proxy(self, url: str) -> str | None:
        scheme, _, rest = url.partition("://")
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        origin = (scheme.lower(), host)
        if origin not in self._proxies:
            self._proxies[origin] = environment_proxy(*origin)
        return self._proxies[origin]


class ImagesHttp:
    """The two image calls of one OpenAI-style provider, on one session for every key."""

    def __init__(self, provider: str, base_url: str, timeout: float) -> None:
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._http = HttpSession(provider, timeout, _openai_environment())

    async def generate(self, key: str, fields: dict[str, Any]) -> Answer:
        content = json.dumps(fields).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return await self._post("/images/generations", headers, content=content)

    async def edit(
        self, key: str, fields: dict[str, Any], images: tuple[ImageBytes, ...]
    ) -> Answer:
        form = aiohttp.FormData()
        for field, value in fields.items():
            form.add_field(field, str(value))
        name = "image" if len(images) == 1 else "image[]"
        for i, image in enumerate(images):
            filename = f"image-{i}.{_ext(image.mime)}"
            form.add_field(name, image.data, filename=filename, content_type=image.mime)
        headers = {"Authorization": f"Bearer {key}"}
        return await self._post("/images/edits", headers, form=form)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, headers: dict[str, str], **body: Any) -> Answer:
        return await self._http.post(self._base_url + path, headers, lift_image=True, **body)


def environment_proxy(scheme: str, host: str) -> str | None:
    """The proxy httpx took from the environment for this origin: <scheme>_PROXY, else
    ALL_PROXY, none for a host NO_PROXY names."""
    if urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(scheme) or proxies.get("all")


def _answer(status: int, headers: Mapping[str, str], raw: bytes, lifted: Any = None) -> Answer:
    request_id = headers.get("x-request-id")
    if lifted is not None:
        return Answer(status, lifted, headers, request_id, "")
    try:
        parsed, text = json.loads(raw), ""
    except ValueError:
        parsed, text = None, raw[:300].decode("utf-8", "replace")
    return Answer(status, parsed, headers, request_id, text)


def lifted_image(raw: bytes) -> Any:
    """The answer parsed with its `data[0].b64_json` left in `raw`: that field holds a
    memoryview of the base64 text instead of a str. None when the body is not of that shape
    (no such field, escapes in it, not JSON): it is then parsed as a whole.

    The image is nearly all of the body: parsing it as JSON (a scan and a str of 270 KB for
    a 200 KB image) cost more than the rest of the answer's handling, and the base64 decoder
    reads the bytes as they came. The rest is parsed with a marker in the field's place, and
    the marker must come out at data[0].b64_json: a "b64_json" met anywhere else is left."""
    at = raw.find(_B64_KEY)  # a plain search: a regex's is slower by half than JSON's
    found = _B64_VALUE.match(raw, at + len(_B64_KEY)) if at >= 0 else None
    if found is None:
        return None
    start = found.end()
    end = raw.find(b'"', start)
    if end < 0 or raw.find(b"\\", start, end) >= 0:  # JSON escapes ("\/"): not base64 as is
        return None
    try:
        parsed = json.loads(raw[:start] + _MARKER + raw[end:])
        item = parsed["data"][0]
        if item["b64_json"] != _MARKED:
            return None
    except (ValueError, TypeError, LookupError):
        return None
    item["b64_json"] = memoryview(raw)[start:end]
    return parsed


def _openai_environment() -> dict[str, str]:
    """The organisation and project the OpenAI SDK would send from its variables (OpenAI's
    calls only: Gemini shares the session class and must not receive them)."""
    return {
        header: value
        for header, variable in SDK_ENVIRONMENT.items()
        if (value := os.environ.get(variable))
    }


def _ext(mime: str) -> str:
    return mime.rsplit("/", 1)[-1]
