"""Fake ComfyUI server answering as ComfyUI 0.3.64 does; every answer is held against the
real server's recordings (tests/fakes/recordings/comfyui/, checked by
tests/integration/test_comfyui_fake_fidelity.py):

- POST /prompt keeps a client-chosen prompt_id (a reused one is accepted; its old history
  entry is served until the new run replaces it); 400 with the error / node_errors shapes
  (comfyui_nodes.validate).
- GET /prompt → {"exec_info": {"queue_remaining": n}} (running + pending, every client's).
- GET /queue; POST /queue {"delete": [ids]} removes pending prompts only (a running id is
  ignored), {"clear": true} every pending one; both answer 200 with an empty body.
- POST /interrupt {"prompt_id"} interrupts only that prompt if it runs; without a body, the
  running prompt whoever queued it. 200, empty body, either way.
- GET /history/{id}: {} while queued or running, and forever for a prompt deleted unrun.
- GET /object_info/{class} ({} for an unknown class), /system_stats, /features,
  POST /upload/image (an existing name is renamed "name (1).png" unless overwrite=true),
  GET /view; no route deletes an input (405). Every route also answers under /api/.
One prompt runs at a time, in a thread, like the real executor (comfyui_executor).

Tests steer it: `hold()` keeps prompts running until `release()` or an interrupt (a slow
prompt: at its TestSleep node if it has one), and `fail_execution` makes the next run fail
as the executor reports it.
"""

from __future__ import annotations

import posixpath
import socket
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.comfyui_executor import Executor, Interrupted
from tests.fakes.comfyui_nodes import OUTPUT_NODES, node_inputs, object_info, validate
from tests.fakes.server import FakeServer, Reply, Request

QueueItem = list[Any]  # [number, prompt_id, graph, extra_data, outputs_to_execute]
JSON = "application/json; charset=utf-8"
SYSTEM = {
    "os": "posix",
    "ram_total": 25276182528,
    "ram_free": 22862974976,
    "comfyui_version": "0.3.64",
    "required_frontend_version": "1.27.10",
    "installed_templates_version": "0.1.95",
    "required_templates_version": "0.1.95",
    "python_version": "3.11.7",
    "pytorch_version": "2.14.1+cpu",
    "embedded_python": False,
    "argv": ["main.py", "--cpu"],
}
DEVICE = {"name": "cpu", "type": "cpu", "index": None, "vram_total": 25276182528}
DEVICE |= {"vram_free": 22862974976, "torch_vram_total": 0, "torch_vram_free": 0}


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
        self._number = 0
        self._work = threading.Condition()
        self._go = threading.Event()
        self._go.set()
        self._interrupt = threading.Event()
        self._stopped = False
        self.dead = False
        self.executor = Executor(self.uploads, self._wait_to_go_on)
        self._thread_executor = threading.Thread(target=self._execute_forever, daemon=True)

    @property
    def fail_execution(self) -> tuple[str, str] | None:
        """(exception_type, message) for the next prompt to fail as it runs."""
        return self.executor.fail_execution

    @fail_execution.setter
    def fail_execution(self, value: tuple[str, str] | None) -> None:
        self.executor.fail_execution = value

    def __enter__(self) -> FakeComfyUI:
        super().__enter__()
        self._thread_executor.start()
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

    def wait_finished(self, prompt_id: str, timeout: float = 5.0) -> None:
        """Block until `prompt_id` has its history entry."""
        with self._work:
            if not self._work.wait_for(lambda: prompt_id in self.entries, timeout):
                raise TimeoutError(f"prompt {prompt_id} did not finish")

    def wait_settled(self, timeout: float = 5.0) -> None:
        """Block until the executor has taken the next pending prompt, if any."""
        with self._work:
            if not self._work.wait_for(lambda: self.running or not self.pending, timeout):
                raise TimeoutError("the fake ComfyUI did not start its next prompt")

    def queue_length(self) -> int:
        with self._work:
            return len(self.pending) + (self.running is not None)

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path, method = urlsplit(request.path).path, request.method
        path = path.removeprefix("/api") if path.startswith("/api/") else path
        routes = {
            ("POST", "/upload/image"): lambda: self._upload(request),
            ("POST", "/prompt"): lambda: self._prompt(request.json()),
            ("GET", "/prompt"): self._queue_remaining,
            ("GET", "/queue"): self._queue,
            ("POST", "/queue"): lambda: self._queue_delete(request.json()),
            ("POST", "/interrupt"): lambda: self._interrupt_prompt(request),
            ("GET", "/system_stats"): lambda: _json({"system": SYSTEM, "devices": [DEVICE]}),
            ("GET", "/features"): lambda: _json(
                {"supports_preview_metadata": True, "max_upload_size": 104857600}
            ),
            ("GET", "/view"): lambda: self._view(request),
            ("GET", "/internal/files/input"): lambda: _json(sorted(self.uploads)),
        }
        if (method, path) in routes:
            return routes[(method, path)]()
        if method == "GET" and path.startswith("/history/"):
            prompt_id = path.removeprefix("/history/")
            with self._work:
                entry = self.entries.get(prompt_id)
            return _json({prompt_id: entry} if entry else {})
        if method == "GET" and path.startswith("/object_info/"):
            return _json(object_info(path.removeprefix("/object_info/"), self._inputs()))
        if method == "DELETE" and path in ("/upload/image", "/view"):
            allow = "GET,HEAD,POST" if path == "/upload/image" else "GET,HEAD"
            return _text(405, "405: Method Not Allowed", {"Allow": allow})
        if path.startswith("/userdata/"):  # no such user file: aiohttp's bare 404
            return Reply(404, b"", {"Cache-Control": "public, max-age=3600"})
        return _text(404, "404: Not Found")

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.body == b"":  # aiohttp sends an empty answer with no Content-Type at all
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        super()._send(handler, reply)

    def _inputs(self) -> dict[str, dict[str, Any]]:
        return node_inputs(self.checkpoints, list(self.uploads))

    def _upload(self, request: Request) -> Reply:
        fields = {name: (filename, content) for name, filename, content in request.form()}
        filename, content = fields.get("image", (None, b""))
        if not filename:
            return Reply(400, b"")
        overwrite = fields.get("overwrite", (None, b""))[1].decode() in ("true", "1")
        stem, dot, suffix = filename.rpartition(".")
        copy = 0
        while filename in self.uploads and not overwrite:
            copy += 1
            filename = f"{stem} ({copy}){dot}{suffix}"
        self.uploads[filename] = content
        return _json({"name": filename, "subfolder": "", "type": "input"})

    def _prompt(self, body: dict[str, Any]) -> Reply:
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided"}
            error |= {"details": "No prompt provided", "extra_info": {}}
            return _json({"error": error, "node_errors": {}}, 400)
        graph = body["prompt"]
        refusal = validate(graph, self._inputs())
        if refusal:
            return _json(refusal, 400)
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        with self._work:
            self._number += 1
            prompt_id = str(body.get("prompt_id") or uuid.uuid4())
            self.graphs[prompt_id] = graph
            outputs = [i for i, n in graph.items() if n["class_type"] in OUTPUT_NODES]
            self.pending.append([self._number, prompt_id, graph, extra, outputs])
            self._work.notify_all()
            number = self._number
        return _json({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    def _queue_remaining(self) -> Reply:
        return _json({"exec_info": {"queue_remaining": self.queue_length()}})

    def _queue(self) -> Reply:
        with self._work:
            running = [self.running] if self.running else []
            return _json({"queue_running": running, "queue_pending": list(self.pending)})

    def _queue_delete(self, body: dict[str, Any]) -> Reply:
        with self._work:
            if body.get("clear"):
                self.pending.clear()
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
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        name, kind = query.get("filename", ""), query.get("type", "output")
        if kind == "input" and name in self.uploads:
            found: tuple[bytes, str] | None = (self.uploads[name], "input")
        else:
            found = self.executor.files.get((query.get("subfolder", ""), name))
        if not found or found[1] != kind:
            return Reply(404, b"")
        disposition = f'filename="{posixpath.basename(name)}"'
        return Reply(
            200, found[0], {"Content-Type": "image/png", "Content-Disposition": disposition}
        )

    # --- the executor --------------------------------------------------------------------

    def _wait_to_go_on(self) -> None:
        """A slow node: it ends on release(), or raises Interrupted when interrupted."""
        while not self._go.wait(0.01):
            if self._interrupt.is_set():
                break
        if self._interrupt.is_set():
            raise Interrupted

    def _execute_forever(self) -> None:
        while True:
            with self._work:
                self._work.wait_for(lambda: self.pending or self._stopped)
                if self._stopped:
                    return
                item = self.running = self.pending.popleft()
                self.executed.append(item[1])
                self._interrupt.clear()
                self._work.notify_all()
            entry = self.executor.run(item)
            with self._work:
                self.entries[item[1]] = entry
                self.running = None
                self._work.notify_all()


def _json(body: Any, status: int = 200) -> Reply:
    return Reply(status, body, {"Content-Type": JSON})


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    )
