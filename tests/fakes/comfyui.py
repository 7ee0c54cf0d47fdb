"""Fake ComfyUI server: /upload/image, /prompt, /history/{id}, /view — as ComfyUI answers."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.fakes.server import FakeServer, Reply, Request


class FakeComfyUI(FakeServer):
    def __init__(self, polls_before_done: int = 1) -> None:
        super().__init__()
        self.uploads: dict[str, bytes] = {}
        self.graphs: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._files: dict[str, bytes] = {}
        self.polls_before_done = polls_before_done
        #: make the next executed prompt fail as ComfyUI reports it (e.g. out of memory)
        self.fail_execution: str | None = None

    def handle(self, request: Request) -> Reply:
        path = urlsplit(request.path).path
        if path == "/upload/image" and request.method == "POST":
            return self._upload(request)
        if path == "/prompt" and request.method == "POST":
            return self._prompt(request.json())
        if path.startswith("/history/"):
            return self._history(path.removeprefix("/history/"))
        if path == "/view":
            query = parse_qs(urlsplit(request.path).query)
            data = self._files.get(query.get("filename", [""])[0])
            return Reply(200, data, {"Content-Type": "image/png"}) if data else Reply(404, b"")
        return Reply(404, b"404: Not Found")

    def _upload(self, request: Request) -> Reply:
        for name, filename, content in request.form():
            if name == "image" and filename:
                self.uploads[filename] = content
                return Reply(200, {"name": filename, "subfolder": "", "type": "input"})
        return Reply(400, b"no image")

    def _prompt(self, body: dict[str, Any]) -> Reply:
        graph = body.get("prompt")
        if not isinstance(graph, dict) or not body.get("client_id"):
            return Reply(
                400,
                {
                    "error": {
                        "type": "invalid_prompt",
                        "message": "Cannot execute: a node is missing the class_type property.",
                    },
                    "node_errors": {},
                },
            )
        errors = _validate(graph, self.uploads)
        if errors:
            return Reply(
                400,
                {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": errors,
                },
            )
        prompt_id = str(uuid.uuid4())
        self.graphs[prompt_id] = graph
        self._polls[prompt_id] = 0
        return Reply(200, {"prompt_id": prompt_id, "number": len(self.graphs), "node_errors": {}})

    def _history(self, prompt_id: str) -> Reply:
        if prompt_id not in self.graphs:
            return Reply(200, {})
        self._polls[prompt_id] += 1
        if self._polls[prompt_id] <= self.polls_before_done:
            return Reply(200, {})  # still running
        if self.fail_execution:
            message, self.fail_execution = self.fail_execution, None
            status = {
                "status_str": "error",
                "completed": False,
                "messages": [
                    [
                        "execution_error",
                        {"prompt_id": prompt_id, "node_id": "3", "exception_message": message},
                    ]
                ],
            }
            return Reply(200, {prompt_id: {"prompt": [], "outputs": {}, "status": status}})
        filename = f"ComfyUI_{len(self._files):05d}_.png"
        self._files[filename] = _render(self.graphs[prompt_id])
        outputs = {"9": {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}}
        status = {"status_str": "success", "completed": True, "messages": []}
        return Reply(200, {prompt_id: {"prompt": [], "outputs": outputs, "status": status}})


def _validate(graph: dict[str, Any], uploads: dict[str, bytes]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for node_id, node in graph.items():
        problems = []
        if "class_type" not in node:
            problems.append({"message": "missing class_type"})
        text = json.dumps(node)
        if "{{" in text:
            problems.append({"message": "Value not in list", "details": "unreplaced placeholder"})
        if node.get("class_type") == "LoadImage" and node["inputs"].get("image") not in uploads:
            problems.append(
                {"message": "Invalid image file", "details": node["inputs"].get("image")}
            )
        if problems:
            errors[node_id] = {"errors": problems, "class_type": node.get("class_type")}
    return errors


def _render(graph: dict[str, Any]) -> bytes:
    size = (64, 64)
    for node in graph.values():
        if node.get("class_type") == "EmptyLatentImage":
            size = (int(node["inputs"]["width"]), int(node["inputs"]["height"]))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 160, 90)).resize(size).save(buffer, "PNG")
    return buffer.getvalue()
