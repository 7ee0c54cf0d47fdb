"""A user's own ComfyUI server: an API-format workflow with placeholders, queued via /prompt,
polled via /history, fetched via /view.

Placeholders (strings in the workflow JSON): {{prompt}}, {{negative_prompt}}, {{seed}},
{{width}}, {{height}}, {{input_image}}. A value that is exactly "{{seed}}", "{{width}}" or
"{{height}}" becomes a number. What the workflow has placeholders for decides what the
provider accepts: no {{negative_prompt}} means negative prompts are refused, no
{{input_image}} means no edits. Without a seed, one is derived from the request, so copies
differ and a rerun is reproducible (ComfyUI would otherwise serve a cached result).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import httpx

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.specs import Mode, dimensions
from imagebatch.errors import (
    ConfigurationError,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagebatch.providers.base import GeneratedImage, ProviderRequest, ProviderResult
from imagebatch.providers.transport import network_errors

DEFAULT_WORKFLOW = Path(__file__).parent / "workflows" / "sdxl_txt2img.json"
NUMBERS = {"{{seed}}", "{{width}}", "{{height}}"}


def load_workflow(path: Path | None) -> dict[str, Any]:
    source = path or DEFAULT_WORKFLOW
    try:
        workflow = json.loads(source.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"ComfyUI workflow {source}: {error}") from None
    if not isinstance(workflow, dict) or "{{prompt}}" not in json.dumps(workflow):
        raise ConfigurationError(
            f"ComfyUI workflow {source} must be API-format JSON containing a {{{{prompt}}}} value"
        )
    return workflow


def capabilities_for(workflow: dict[str, Any]) -> ProviderCapabilities:
    text = json.dumps(workflow)
    modes = {Mode.GENERATE} | ({Mode.EDIT} if "{{input_image}}" in text else set())
    model = ModelCapabilities(
        name="workflow",
        modes=frozenset(modes),
        max_reference_images=0,
        seed="{{seed}}" in text,
        negative_prompt="{{negative_prompt}}" in text,
        description="your ComfyUI workflow (IMAGEBATCH_COMFYUI_WORKFLOW)",
    )
    return ProviderCapabilities("comfyui", "workflow", {"workflow": model})


def fill(node: Any, values: dict[str, Any]) -> Any:
    """The workflow with every placeholder replaced."""
    if isinstance(node, dict):
        return {key: fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value, values) for value in node]
    if isinstance(node, str):
        if node in NUMBERS:
            return values[node]
        for placeholder, value in values.items():
            node = node.replace(placeholder, str(value))
    return node


class ComfyUIProvider:
    name: ClassVar[str] = "comfyui"

    def __init__(
        self, base_url: str, workflow: dict[str, Any], timeout: float, poll_seconds: float = 0.5
    ) -> None:
        self._base_url = base_url
        self._workflow = workflow
        self._capabilities = capabilities_for(workflow)
        self._timeout = timeout
        self._poll = poll_seconds
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return self._capabilities

    @property
    def configured(self) -> bool:
        return bool(self._base_url)

    async def generate(self, request: ProviderRequest) -> ProviderResult:
        with network_errors("comfyui"):
            graph = fill(self._workflow, await self._values(request))
            prompt_id = await self._queue(graph)
            outputs = await self._wait(prompt_id)
            image = await self._fetch(outputs)
        return ProviderResult((image,), request_id=prompt_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _values(self, request: ProviderRequest) -> dict[str, Any]:
        width, height = dimensions(request.aspect_ratio, request.resolution)
        values: dict[str, Any] = {
            "{{prompt}}": request.prompt,
            "{{negative_prompt}}": request.negative_prompt or "",
            "{{seed}}": request.seed if request.seed is not None else _derived_seed(request),
            "{{width}}": width,
            "{{height}}": height,
        }
        if request.images:
            values["{{input_image}}"] = await self._upload(
                request.images[0].data, request.images[0].mime
            )
        return values

    async def _upload(self, data: bytes, mime: str) -> str:
        name = f"imagebatch-{hashlib.sha256(data).hexdigest()[:16]}.{mime.rsplit('/', 1)[-1]}"
        response = await self._http.post(
            "/upload/image", files={"image": (name, data, mime)}, data={"overwrite": "true"}
        )
        _check(response, "upload")
        uploaded = response.json()
        sub = uploaded.get("subfolder") or ""
        return f"{sub}/{uploaded['name']}" if sub else str(uploaded["name"])

    async def _queue(self, graph: dict[str, Any]) -> str:
        response = await self._http.post(
            "/prompt", json={"prompt": graph, "client_id": uuid.uuid4().hex}
        )
        if response.status_code == 400:
            raise InvalidRequest(f"comfyui refused the workflow: {_summary(response)}")
        _check(response, "prompt")
        return str(response.json()["prompt_id"])

    async def _wait(self, prompt_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            response = await self._http.get(f"/history/{prompt_id}")
            _check(response, "history")
            entry = response.json().get(prompt_id)
            if entry:
                return _finished(entry)
            await asyncio.sleep(self._poll)
        raise ProviderTimeout(
            f"comfyui: prompt {prompt_id} did not finish in {self._timeout:.0f} s"
        )

    async def _fetch(self, outputs: dict[str, Any]) -> GeneratedImage:
        for output in outputs.values():
            for image in output.get("images", []):
                if image.get("type", "output") != "output":
                    continue
                params = {k: image.get(k, "") for k in ("filename", "subfolder", "type")}
                response = await self._http.get("/view", params=params)
                _check(response, "view")
                mime = response.headers.get("content-type", "image/png").split(";")[0]
                return GeneratedImage(response.content, mime)
        raise ProviderUnavailable("comfyui: the workflow finished without an output image")


def _finished(entry: dict[str, Any]) -> dict[str, Any]:
    status = entry.get("status") or {}
    if status.get("status_str") == "error":
        messages = [m[1] for m in status.get("messages", []) if m and m[0] == "execution_error"]
        detail = messages[0].get("exception_message", "") if messages else ""
        raise ProviderUnavailable(f"comfyui: the workflow failed: {detail}".rstrip(": "))
    return dict(entry.get("outputs") or {})


def _derived_seed(request: ProviderRequest) -> int:
    key = json.dumps([request.prompt, request.negative_prompt, request.variant], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")


def _check(response: httpx.Response, step: str) -> None:
    if response.status_code >= 500:
        raise ProviderUnavailable(f"comfyui {step}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise InvalidRequest(f"comfyui {step}: HTTP {response.status_code}: {_summary(response)}")


def _summary(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    nodes = body.get("node_errors", {}) if isinstance(body, dict) else {}
    details = "; ".join(
        f"node {node}: {e.get('message', '')}"
        for node, info in nodes.items()
        for e in info.get("errors", [])
    )
    return " — ".join(part for part in (message, details) if part)[:500]
