"""One ComfyUI server's HTTP API, as the real server answers it (0.3.x):

POST /prompt {"prompt", "prompt_id", "client_id"} → {"prompt_id", "number", "node_errors"},
or 400 {"error": {"type", "message", "details", "extra_info"}, "node_errors": {id: {"errors":
[{"type", "message", "details", "extra_info"}], "dependent_outputs", "class_type"}}}.
GET /queue → {"queue_running": [[number, id, graph, extra, outputs]], "queue_pending": […]};
POST /queue {"delete": [id]}; POST /interrupt {"prompt_id"} (interrupts only that prompt, if
it is the one running); GET /history/{id} → {} while queued or running, else {id: {"prompt",
"outputs", "status": {"status_str", "completed", "messages"}, "meta"}};
GET /prompt → {"exec_info": {"queue_remaining": n}} (every client's prompts, running and
pending); GET /object_info/{class}; GET /system_stats; POST /upload/image; GET /view.
Answers recorded from a real 0.3.64: tests/fakes/recordings/comfyui/.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagebatch.errors import InvalidRequest, ProviderUnavailable

#: seconds for the small bookkeeping calls (queue, history, interrupt, probes)
SHORT_TIMEOUT = 10.0


@dataclass
class QueueState:
    running: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.running) + len(self.pending)


class ComfyUIServer:
    """The HTTP calls to one server; every failure below HTTP surfaces as httpx's own error,
    so the pool can tell a refused connection (nothing happened) from a broken one."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._short = httpx.Timeout(min(timeout, SHORT_TIMEOUT))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload(self, data: bytes, mime: str) -> str:
        # Named by content: the same input uploaded again overwrites itself, never piles up.
        name = f"imagebatch-{hashlib.sha256(data).hexdigest()[:16]}.{mime.rsplit('/', 1)[-1]}"
        response = await self._http.post(
            "/upload/image", files={"image": (name, data, mime)}, data={"overwrite": "true"}
        )
        check(response, "upload")
        uploaded = response.json()
        sub = uploaded.get("subfolder") or ""
        return f"{sub}/{uploaded['name']}" if sub else str(uploaded["name"])

    async def queue_prompt(self, graph: dict[str, Any], prompt_id: str) -> str:
        body = {"prompt": graph, "prompt_id": prompt_id, "client_id": "imagebatch"}
        response = await self._http.post("/prompt", json=body)
        if response.status_code == 400:
            raise InvalidRequest(f"comfyui refused the workflow: {refusal(response)}")
        check(response, "prompt")
        # An older server ignores our id and picks its own.
        return str(response.json()["prompt_id"])

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        response = await self._http.get(f"/history/{prompt_id}", timeout=self._short)
        check(response, "history")
        entry = response.json().get(prompt_id)
        return dict(entry) if entry else None

    async def queue(self) -> QueueState:
        response = await self._http.get("/queue", timeout=self._short)
        check(response, "queue")
        body = response.json()
        return QueueState(
            [str(item[1]) for item in body.get("queue_running") or []],
            [str(item[1]) for item in body.get("queue_pending") or []],
        )

    async def queue_remaining(self) -> int:
        """The server's queue length, cheaply: GET /queue would send every queued graph."""
        response = await self._http.get("/prompt", timeout=self._short)
        check(response, "prompt")
        return int(response.json()["exec_info"]["queue_remaining"])

    async def delete(self, prompt_id: str) -> None:
        response = await self._http.post(
            "/queue", json={"delete": [prompt_id]}, timeout=self._short
        )
        check(response, "queue delete")

    async def interrupt(self, prompt_id: str) -> None:
        # Always with the prompt's id: without one, ComfyUI interrupts whatever runs, any
        # client's. (POST /queue {"clear": true} would likewise wipe everyone's queue.)
        response = await self._http.post(
            "/interrupt", json={"prompt_id": prompt_id}, timeout=self._short
        )
        check(response, "interrupt")

    async def object_info(self, class_type: str) -> dict[str, Any]:
        response = await self._http.get(f"/object_info/{class_type}", timeout=self._short)
        check(response, "object_info")
        return dict(response.json())

    async def system_stats(self) -> None:
        response = await self._http.get("/system_stats", timeout=self._short)
        check(response, "system_stats")

    async def view(self, image: dict[str, Any]) -> tuple[bytes, str]:
        params = {k: image.get(k, "") for k in ("filename", "subfolder", "type")}
        response = await self._http.get("/view", params=params)
        check(response, "view")
        return response.content, response.headers.get("content-type", "image/png").split(";")[0]


def check(response: httpx.Response, step: str) -> None:
    if response.status_code >= 500:
        raise ProviderUnavailable(f"comfyui {step}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise InvalidRequest(f"comfyui {step}: HTTP {response.status_code}: {refusal(response)}")


def refusal(response: httpx.Response) -> str:
    """A 400's whole story: the error, and for each node its id, class, message and details."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [_described(body.get("error"))]
    for node_id, info in (body.get("node_errors") or {}).items():
        node = f"node {node_id} ({info.get('class_type', '?')})"
        parts += [f"{node}: {_described(error)}" for error in info.get("errors") or []]
    return "; ".join(part for part in parts if part)[:1000]


def _described(error: object) -> str:
    if not isinstance(error, dict):
        return str(error or "")
    message, details = str(error.get("message") or ""), str(error.get("details") or "")
    return f"{message}: {details}" if details else message
