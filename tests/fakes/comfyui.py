"""Fake ComfyUI server answering as ComfyUI 0.3.x does: /prompt (a client-chosen prompt_id is
kept; 400 with the error and node_errors shapes), GET /queue and POST /queue {"delete"},
/interrupt {"prompt_id"}, /history/{id} ({} while queued or running), /object_info/{class},
/system_stats, /upload/image and /view. One prompt runs at a time, in a thread, like the real
executor; an identical graph is served from the cache under the same file name.

Tests steer it: `hold()` keeps prompts running until `release()` (a slow prompt), and
`fail_execution` makes the next run fail as the executor reports it.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.fakes.comfyui_nodes import node_inputs, object_info, validate
from tests.fakes.server import FakeServer, Reply, Request

QueueItem = list[Any]  # [number, prompt_id, graph, extra_data, outputs_to_execute]


class FakeComfyUI(FakeServer):
    def __init__(self, checkpoints: list[str] | None = None) -> None:
        super().__init__()
        self.checkpoints = ["sd_xl_base_1.0.safetensors"] if checkpoints is None else checkpoints
        self.uploads: dict[str, bytes] = {}
        #: every graph queued, by prompt id (in order)
        self.graphs: dict[str, dict[str, Any]] = {}
        #: prompt ids in the order they started running
        self.executed: list[str] = []
        self.interrupts: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.pending: deque[QueueItem] = deque()
        self.running: QueueItem | None = None
        self._files: dict[str, tuple[bytes, str]] = {}
        self._cache: dict[str, str] = {}
        self._number = 0
        self._work = threading.Condition()
        self._go = threading.Event()
        self._go.set()
        self._interrupt = threading.Event()
        self._stopped = False
        self.dead = False
        #: (exception_type, message) for the next prompt to fail as it runs
        self.fail_execution: tuple[str, str] | None = None
        self._executor = threading.Thread(target=self._execute_forever, daemon=True)

    def __enter__(self) -> FakeComfyUI:
        super().__enter__()
        self._executor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._work:
            self._stopped = True
            self._work.notify_all()
        self._go.set()
        super().__exit__(*exc)

    # --- steering ------------------------------------------------------------------------

    def kill(self) -> None:
        """Die as a crashed server does: open connections break, new ones are refused."""
        self.dead = True
        self.__exit__(None, None, None)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        if self.dead:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        super()._serve(handler)

    def hold(self) -> None:
        """Prompts that start running keep running until release() or an interrupt."""
        self._go.clear()

    def release(self) -> None:
        self._go.set()

    def wait_running(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` prompts have started running here."""
        with self._work:
            if not self._work.wait_for(lambda: len(self.executed) >= count, timeout):
                raise TimeoutError(f"{len(self.executed)} of {count} prompts ran")

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until nothing runs or waits here."""
        with self._work:
            if not self._work.wait_for(lambda: not self.pending and not self.running, timeout):
                raise TimeoutError("the fake ComfyUI is still busy")

    def queue_length(self) -> int:
        with self._work:
            return len(self.pending) + (self.running is not None)

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path, method = urlsplit(request.path).path, request.method
        routes = {
            ("POST", "/upload/image"): lambda: self._upload(request),
            ("POST", "/prompt"): lambda: self._prompt(request.json()),
            ("GET", "/queue"): self._queue,
            ("POST", "/queue"): lambda: self._queue_delete(request.json()),
            ("POST", "/interrupt"): lambda: self._interrupt_prompt(request),
            ("GET", "/system_stats"): _system_stats,
            ("GET", "/view"): lambda: self._view(request),
        }
        if (method, path) in routes:
            return routes[(method, path)]()
        if method == "GET" and path.startswith("/history/"):
            prompt_id = path.removeprefix("/history/")
            with self._work:
                entry = self.entries.get(prompt_id)
            return Reply(200, {prompt_id: entry} if entry else {})
        if method == "GET" and path.startswith("/object_info/"):
            return Reply(200, object_info(path.removeprefix("/object_info/"), self._inputs()))
        return Reply(404, b"404: Not Found")

    def _inputs(self) -> dict[str, dict[str, Any]]:
        return node_inputs(self.checkpoints, list(self.uploads))

    def _upload(self, request: Request) -> Reply:
        fields = {name: (filename, content) for name, filename, content in request.form()}
        filename, content = fields.get("image", (None, b""))
        if not filename:
            return Reply(400, b"")
        self.uploads[filename] = content
        return Reply(200, {"name": filename, "subfolder": "", "type": "input"})

    def _prompt(self, body: dict[str, Any]) -> Reply:
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided"}
            error |= {"details": "No prompt provided", "extra_info": {}}
            return Reply(400, {"error": error, "node_errors": {}})
        graph = body["prompt"]
        refusal = validate(graph, self._inputs())
        if refusal:
            return Reply(400, refusal)
        prompt_id = str(body.get("prompt_id") or f"fake-{self._number}")
        with self._work:
            self._number += 1
            self.graphs[prompt_id] = graph
            outputs = [
                i for i, n in graph.items() if n["class_type"] in ("SaveImage", "PreviewImage")
            ]
            self.pending.append([self._number, prompt_id, graph, {}, outputs])
            self._work.notify_all()
            number = self._number
        return Reply(200, {"prompt_id": prompt_id, "number": number, "node_errors": {}})

    def _queue(self) -> Reply:
        with self._work:
            running = [self.running] if self.running else []
            return Reply(200, {"queue_running": running, "queue_pending": list(self.pending)})

    def _queue_delete(self, body: dict[str, Any]) -> Reply:
        with self._work:
            for prompt_id in body.get("delete") or []:
                self.deleted.append(prompt_id)
                self.pending = deque(item for item in self.pending if item[1] != prompt_id)
            self._work.notify_all()
        return Reply(200, b"")

    def _interrupt_prompt(self, request: Request) -> Reply:
        body = request.json() if request.body else {}
        self.interrupts.append(body)
        with self._work:
            target = body.get("prompt_id")
            if self.running and (not target or self.running[1] == target):
                self._interrupt.set()
        return Reply(200, b"")

    def _view(self, request: Request) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        found = self._files.get(query.get("filename", [""])[0])
        if not found or found[1] != query.get("type", ["output"])[0]:
            return Reply(404, b"")
        return Reply(200, found[0], {"Content-Type": "image/png"})

    # --- the executor --------------------------------------------------------------------

    def _execute_forever(self) -> None:
        while True:
            with self._work:
                self._work.wait_for(lambda: self.pending or self._stopped)
                if self._stopped:
                    return
                self.running = self.pending.popleft()
                self.executed.append(self.running[1])
                self._interrupt.clear()
                self._work.notify_all()
            prompt_id, graph = self.running[1], self.running[2]
            while not self._go.wait(0.01) and not self._interrupt.is_set():
                pass
            entry = self._finish(prompt_id, graph)
            with self._work:
                self.entries[prompt_id] = entry
                self.running = None
                self._work.notify_all()

    def _finish(self, prompt_id: str, graph: dict[str, Any]) -> dict[str, Any]:
        start = ["execution_start", {"prompt_id": prompt_id, "timestamp": _now()}]
        key = json.dumps(graph, sort_keys=True)
        cached = [
            "execution_cached",
            {
                "nodes": list(graph) if key in self._cache else [],
                "prompt_id": prompt_id,
                "timestamp": _now(),
            },
        ]
        messages: list[Any] = [start, cached]
        if self._interrupt.is_set():
            node = next(iter(graph))
            messages.append(
                [
                    "execution_interrupted",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node,
                        "node_type": graph[node]["class_type"],
                        "executed": [],
                    },
                ]
            )
            return _entry(prompt_id, graph, {}, messages, "error")
        if self.fail_execution:
            (kind, text), self.fail_execution = self.fail_execution, None
            node = next(iter(graph))
            messages.append(
                [
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node,
                        "node_type": graph[node]["class_type"],
                        "executed": [],
                        "exception_message": text,
                        "exception_type": kind,
                        "traceback": ["Traceback ..."],
                        "current_inputs": {},
                        "current_outputs": {},
                    },
                ]
            )
            return _entry(prompt_id, graph, {}, messages, "error")
        outputs = {
            node_id: {"images": [self._image(key, node_id, graph)]}
            for node_id, node in graph.items()
            if node["class_type"] in ("SaveImage", "PreviewImage")
        }
        messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": _now()}])
        return _entry(prompt_id, graph, outputs, messages, "success")

    def _image(self, key: str, node_id: str, graph: dict[str, Any]) -> dict[str, str]:
        kind = "output" if graph[node_id]["class_type"] == "SaveImage" else "temp"
        cache_key = f"{key}#{node_id}"
        if cache_key not in self._cache:
            name = f"ComfyUI_{len(self._files) + 1:05d}_.png"
            self._files[name] = (self._render(graph), kind)
            self._cache[cache_key] = name
            self._cache[key] = name
        return {"filename": self._cache[cache_key], "subfolder": "", "type": kind}

    def _render(self, graph: dict[str, Any]) -> bytes:
        image = Image.new("RGB", (64, 64), (90, 160, 90))
        for node in graph.values():
            inputs = node.get("inputs") or {}
            if node["class_type"] in ("EmptyLatentImage", "EmptyImage"):
                image = Image.new(
                    "RGB", (int(inputs["width"]), int(inputs["height"])), (90, 160, 90)
                )
            if node["class_type"] == "LoadImage":
                image = Image.open(io.BytesIO(self.uploads[inputs["image"]])).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()


def _entry(
    prompt_id: str, graph: dict[str, Any], outputs: dict[str, Any], messages: list[Any], status: str
) -> dict[str, Any]:
    return {
        "prompt": [0, prompt_id, graph, {"client_id": "imagebatch"}, list(outputs)],
        "outputs": outputs,
        "status": {"status_str": status, "completed": status == "success", "messages": messages},
        "meta": {
            node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
            for node in outputs
        },
    }


def _system_stats() -> Reply:
    system = {
        "os": "posix",
        "comfyui_version": "0.3.64",
        "python_version": "3.12",
        "embedded_python": False,
    }
    return Reply(
        200, {"system": system, "devices": [{"name": "cpu", "type": "cpu", "index": None}]}
    )


def _now() -> int:
    return int(time.time() * 1000)
