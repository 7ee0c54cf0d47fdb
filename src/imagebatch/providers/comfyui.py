"""A user's own ComfyUI servers: an API-format workflow with placeholders (see
comfyui_workflow), queued on the least-busy server of the pool, watched via /queue and
/history, fetched via /view.

Every prompt gets an id derived from the request (the filled-in workflow) and a generation
number, so any worker can find an earlier attempt's prompt again: a retry first reuses the
outputs of a prompt that finished, or waits for one still queued, and queues the next
generation only when the earlier ones failed. The timeout counts from the moment ComfyUI
starts running the prompt, not while it waits in ComfyUI's queue. A call that is abandoned
(cancel, pause, shutdown) or times out deletes its prompt from the queue and interrupts it
if it runs. Without a seed, one is derived from the request, and every seed is narrowed
into the range the workflow's seed inputs take (GET /object_info); the seed used is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from imagebatch.domain.capabilities import ProviderCapabilities
from imagebatch.domain.specs import Mode, dimensions
from imagebatch.errors import (
    ConnectionFailed,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagebatch.providers.base import (
    BackendStatus,
    ImageBytes,
    ProviderRequest,
    ProviderResult,
)
from imagebatch.providers.comfyui_pool import Backend, BackendPool, describe
from imagebatch.providers.comfyui_workflow import (
    SEED,
    SeedRange,
    capabilities_for,
    fill,
    input_options,
    seed_inputs,
    seed_range,
)
from imagebatch.providers.comfyui_workflow import load_workflow as load_workflow
from imagebatch.providers.transport import network_errors

#: generations of one request's prompt tried before giving up (each a failed run)
MAX_GENERATIONS = 8
#: seconds the clean-up of an abandoned prompt may take
CLEANUP_SECONDS = 5.0
_IDS = uuid.UUID("6c6b1f0e-6f1c-4a43-9b8e-2f3c0d0e1a14")
#: connection failures that leave nothing queued: the next backend gets the call for free
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


def backend_urls(value: str | Sequence[str]) -> list[str]:
    """IMAGEBATCH_COMFYUI_BASE_URL: one URL or several, comma-separated."""
    urls = value.split(",") if isinstance(value, str) else list(value)
    return [url.strip() for url in urls if url.strip()]


class ComfyUIProvider:
    name: ClassVar[str] = "comfyui"

    def __init__(
        self,
        base_url: str | Sequence[str],
        workflow: dict[str, Any],
        timeout: float,
        poll_seconds: float = 0.5,
        backend_concurrency: int = 1,
    ) -> None:
        self._workflow = workflow
        self._fingerprint = json.dumps(workflow, sort_keys=True)
        self._capabilities = capabilities_for(workflow)
        self._timeout = timeout
        self._poll = poll_seconds
        self.pool = BackendPool(backend_urls(base_url), backend_concurrency, timeout)
        self._seeds: SeedRange | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

    @property
    def capabilities(self) -> ProviderCapabilities:
        return self._capabilities

    @property
    def configured(self) -> bool:
        return bool(self.pool.backends)

    async def backend_statuses(self) -> Sequence[BackendStatus]:
        return await self.pool.statuses()

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        self._check_inputs(request)
        with network_errors("comfyui"):
            seed = await self._seed(request)
            values = _values(request, seed)
            key = self._request_key(request, values)
            backend, prompt_id, entry = await self._run(request, values, key)
            image = await self._fetch(backend, entry)
        used = seed if self._capabilities.models["workflow"].seed else None
        return ProviderResult((image,), request_id=prompt_id, seed=used)

    async def aclose(self) -> None:
        if self._cleanups:  # abandoned prompts are being removed: let them finish first
            await asyncio.wait(self._cleanups, timeout=CLEANUP_SECONDS)
        await self.pool.aclose()

    def _check_inputs(self, request: ProviderRequest) -> None:
        edits = Mode.EDIT in self._capabilities.models["workflow"].modes
        if edits and not request.asked.images:
            raise InvalidRequest(
                "comfyui: this workflow edits an image ({{input_image}}) and the task has "
                "none; give each task an input image, or use a text-to-image workflow"
            )
        if not edits and request.asked.images:
            raise InvalidRequest(
                "comfyui: this workflow has no {{input_image}} placeholder, so it cannot edit"
            )

    # --- seeds ---------------------------------------------------------------------------

    async def _seed(self, request: ProviderRequest) -> int:
        if self._seeds is None:
            self._seeds = await self._seed_range()
        asked = request.asked
        if asked.seed is not None:
            return self._seeds.fit(asked.seed)
        key = json.dumps([asked.prompt, asked.negative_prompt, asked.variant])
        return self._seeds.draw(key.encode())

    async def _seed_range(self) -> SeedRange:
        """The range every {{seed}} input takes, read once per workflow from the server."""
        limits = []
        for node_id, class_type, name in seed_inputs(self._workflow):
            info = await self._object_info(class_type)
            where = f"node {node_id} ({class_type}) input {name}"
            limits.append((where, input_options(info, class_type, name)))
        return seed_range(limits)

    async def _object_info(self, class_type: str) -> dict[str, Any]:
        for backend in self.pool.up() or self.pool.backends:
            try:
                return await backend.server.object_info(class_type)
            except _NOTHING_SENT as error:
                self.pool.bench(backend, describe(error))
        raise ConnectionFailed(f"comfyui: no backend answers ({self.pool.errors()})")

    # --- running one prompt --------------------------------------------------------------

    def _request_key(self, request: ProviderRequest, values: dict[str, Any]) -> str:
        images = request.asked.images
        image = hashlib.sha256(images[0].data).hexdigest() if images else ""
        material = json.dumps([self._fingerprint, sorted(values.items()), image])
        return hashlib.sha256(material.encode()).hexdigest()

    async def _run(
        self, request: ProviderRequest, values: dict[str, Any], key: str
    ) -> tuple[Backend, str, dict[str, Any]]:
        while True:
            found = await self._earlier(key)
            if found.entry is not None and found.backend is not None:
                return found.backend, found.prompt_id, found.entry  # a finished run: reuse it
            if found.backend is None:
                backend = await self._submit(request, values, found.prompt_id)
            else:  # still queued or running there: wait for it
                backend = found.backend
                self.pool.hold(backend)
            try:
                entry = await self._watch(backend, found.prompt_id)
            finally:
                await self.pool.release(backend)
            if found.backend is not None and _interrupted(entry):
                # An abandoned attempt's prompt, interrupted by its clean-up while we looked:
                # not a failure of this attempt; queue the next generation.
                continue
            return backend, found.prompt_id, _outputs(entry, found.transient_failures)

    async def _earlier(self, key: str) -> Earlier:
        """The first generation of this request's prompt that did not fail, on any backend."""
        transient = 0
        for generation in range(MAX_GENERATIONS):
            prompt_id = str(uuid.uuid5(_IDS, f"{key}:{generation}"))
            backend, entry = await self._find(prompt_id)
            if entry is None or _succeeded(entry):
                return Earlier(prompt_id, backend, entry, transient)
            transient += _is_transient(entry)
        raise InvalidRequest(f"comfyui: this request failed {MAX_GENERATIONS} times; not again")

    async def _find(self, prompt_id: str) -> tuple[Backend | None, dict[str, Any] | None]:
        """Where `prompt_id` is: its history entry, or the backend whose queue holds it."""
        up = self.pool.up()
        entries = await asyncio.gather(*(_quietly(b.server.history(prompt_id)) for b in up))
        for backend, entry in zip(up, entries, strict=True):
            if entry:
                return backend, entry
        queues = await asyncio.gather(*(_quietly(b.server.queue()) for b in up))
        for backend, queue in zip(up, queues, strict=True):
            if queue and prompt_id in queue.running + queue.pending:
                return backend, None
        return None, None

    async def _submit(
        self, request: ProviderRequest, values: dict[str, Any], prompt_id: str
    ) -> Backend:
        """Queue on the least-busy backend; one refusing connections is benched and the next
        one tried: nothing was queued, so no attempt is spent."""
        tried: set[Backend] = set()
        while True:
            backend = await self.pool.acquire(tried)
            try:
                if request.asked.images:
                    image = request.asked.images[0]
                    values["{{input_image}}"] = await backend.server.upload(image.data, image.mime)
                await backend.server.queue_prompt(fill(self._workflow, values), prompt_id)
                return backend
            except _NOTHING_SENT as error:
                self.pool.bench(backend, describe(error))
                tried.add(backend)
            except BaseException as error:
                if isinstance(error, asyncio.CancelledError):  # it may have been queued
                    self._clean_up(backend, prompt_id)
                await self.pool.release(backend)
                raise
            await self.pool.release(backend)

    async def _watch(self, backend: Backend, prompt_id: str) -> dict[str, Any]:
        try:
            return await self._wait(backend, prompt_id)
        except ProviderTimeout:
            await self._clean_up(backend, prompt_id)
            raise
        except httpx.TransportError as error:
            # It died mid-prompt: this attempt is lost; the others go elsewhere meanwhile.
            self.pool.bench(backend, describe(error))
            raise ConnectionFailed(f"comfyui: {backend.shown_url} stopped answering") from None
        except asyncio.CancelledError:
            # Shielded: a second cancel must not cut the clean-up short.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._clean_up(backend, prompt_id))
            raise

    async def _wait(self, backend: Backend, prompt_id: str) -> dict[str, Any]:
        """The history entry once the prompt ends; the timeout runs from when it started."""
        started: float | None = None
        while True:
            entry = await backend.server.history(prompt_id)
            if entry:
                return entry
            queue = await backend.server.queue()
            if prompt_id in queue.running:
                started = started or time.monotonic()
            elif prompt_id not in queue.pending:
                # It may have finished between the two looks.
                if entry := await backend.server.history(prompt_id):
                    return entry
                raise ProviderUnavailable(
                    f"comfyui: prompt {prompt_id} left the queue of {backend.shown_url} without "
                    "a result (deleted there, or the server restarted)"
                )
            if started is not None and time.monotonic() - started > self._timeout:
                raise ProviderTimeout(
                    f"comfyui: prompt {prompt_id} ran longer than {self._timeout:g} s on "
                    f"{backend.shown_url}; it was interrupted"
                )
            await asyncio.sleep(self._poll)

    def _clean_up(self, backend: Backend, prompt_id: str) -> asyncio.Task[None]:
        task = asyncio.create_task(_remove(backend, prompt_id))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return task

    async def _fetch(self, backend: Backend, entry: dict[str, Any]) -> ImageBytes:
        image = _saved_images(entry)[0]
        data, mime = await backend.server.view(image)
        return ImageBytes(data, mime)


class Earlier:
    """What a lookup found of a request's prompt: the id to wait on or queue, and where."""

    def __init__(
        self,
        prompt_id: str,
        backend: Backend | None,
        entry: dict[str, Any] | None,
        transient_failures: int,
    ) -> None:
        self.prompt_id = prompt_id
        self.backend = backend
        self.entry = entry
        self.transient_failures = transient_failures


async def _remove(backend: Backend, prompt_id: str) -> None:
    """Delete the prompt from the queue, and interrupt it if it is the one running. The
    interrupt names the prompt (servers since 0.3.4x interrupt only that one); we ask only
    when /queue shows it running, so an older server's global interrupt hits nobody else."""
    try:
        async with asyncio.timeout(CLEANUP_SECONDS):
            await backend.server.delete(prompt_id)
            if prompt_id in (await backend.server.queue()).running:
                await backend.server.interrupt(prompt_id)
    except (TimeoutError, httpx.HTTPError, ProviderError) as error:
        backend.last_error = f"clean-up of {prompt_id}: {describe(error)}"


async def _quietly(call: Any) -> Any:
    """A lookup's answer, or None when that backend cannot answer it now."""
    try:
        return await call
    except (httpx.HTTPError, ProviderError):
        return None


def _values(request: ProviderRequest, seed: int) -> dict[str, Any]:
    width, height = dimensions(request.asked.aspect_ratio, request.asked.resolution)
    return {
        "{{prompt}}": request.asked.prompt,
        "{{negative_prompt}}": request.asked.negative_prompt or "",
        SEED: seed,
        "{{width}}": width,
        "{{height}}": height,
    }


# --- reading a finished prompt ------------------------------------------------------------

#: exception types worth one more run: the GPU was short of memory this time (ComfyUI
#: 0.3.64 names torch's module-qualified: "torch.OutOfMemoryError")
TRANSIENT_EXCEPTIONS = ("OutOfMemoryError", "OOM_EXCEPTION")


def _execution_error(entry: dict[str, Any]) -> dict[str, Any] | None:
    for message in (entry.get("status") or {}).get("messages") or []:
        if message and message[0] in {"execution_error", "execution_interrupted"}:
            return {"kind": message[0], **(message[1] if len(message) > 1 else {})}
    if (entry.get("status") or {}).get("status_str") == "error":
        return {"kind": "execution_error"}
    return None


def _interrupted(entry: dict[str, Any]) -> bool:
    return (_execution_error(entry) or {}).get("kind") == "execution_interrupted"


def _succeeded(entry: dict[str, Any]) -> bool:
    return _execution_error(entry) is None


def _is_transient(entry: dict[str, Any]) -> bool:
    error = _execution_error(entry) or {}
    kind = str(error.get("exception_type", ""))
    return kind.endswith(TRANSIENT_EXCEPTIONS)


def _outputs(entry: dict[str, Any], transient_failures: int) -> dict[str, Any]:
    """The entry of a prompt that ran well; a failed run raised as final or retryable."""
    error = _execution_error(entry)
    if error is None:
        _saved_images(entry)  # refuse now a run that saved nothing
        return entry
    if error["kind"] == "execution_interrupted":
        raise ProviderUnavailable(
            "comfyui: the prompt was interrupted on the server (not by imagebatch: someone "
            "there pressed cancel, or another client interrupted everything)"
        )
    node = f"node {error.get('node_id', '?')} ({error.get('node_type', '?')})"
    kind = str(error.get("exception_type", ""))
    text = f"comfyui: the workflow failed at {node}: {kind}: {error.get('exception_message', '')}"
    if kind.endswith(TRANSIENT_EXCEPTIONS) and transient_failures == 0:
        raise ProviderUnavailable(text.strip())  # out of memory: worth one more run
    raise InvalidRequest(text.strip())


def _saved_images(entry: dict[str, Any]) -> list[dict[str, Any]]:
    images = [
        image
        for output in (entry.get("outputs") or {}).values()
        for image in output.get("images") or []
        if image.get("type") == "output"
    ]
    if not images:
        raise InvalidRequest(
            "comfyui: the workflow finished without a SaveImage output (previews are "
            "temporary); end the workflow with a SaveImage node"
        )
    return images
