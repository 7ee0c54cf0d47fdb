"""How the fake ComfyUI runs one prompt and what it writes into /history, shaped as ComfyUI
0.3.64 does (recordings/comfyui/history_*.json, interrupt_by_prompt_id.json): node by node in
dependency order; messages execution_start, execution_cached, then execution_success,
execution_error or execution_interrupted, each with a timestamp in epoch ms.

Like ComfyUI's classic cache, only the last prompt's results are kept: the identical graph
queued right after is served from it (all nodes cached, the same file), but not once another
prompt ran in between.
"""

from __future__ import annotations

import io
import json
import posixpath
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

#: (bytes, "output" | "temp") by (subfolder, file name)
Files = dict[tuple[str, str], tuple[bytes, str]]


class NodeFailed(Exception):
    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


class Interrupted(Exception):
    pass


@dataclass
class Executor:
    """Runs graphs for one fake server; `wait` blocks a slow node until it may go on (it
    raises Interrupted when the prompt is interrupted)."""

    uploads: dict[str, bytes]
    wait: Callable[[], None]
    files: Files = field(default_factory=dict)
    fail_execution: tuple[str, str] | None = None
    _last: tuple[str, dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, item: list[Any]) -> dict[str, Any]:
        """The /history entry of queue item [number, prompt_id, graph, extra, outputs]."""
        prompt_id, graph = item[1], item[2]
        key = json.dumps(graph, sort_keys=True)
        messages: list[Any] = [["execution_start", {"prompt_id": prompt_id, "timestamp": _now()}]]
        cached = self._last is not None and self._last[0] == key
        nodes = list(graph) if cached else []
        messages.append(
            ["execution_cached", {"nodes": nodes, "prompt_id": prompt_id, "timestamp": _now()}]
        )
        if cached and self._last is not None:
            return _entry(item, self._last[1], messages, None)
        run = _Run(self, graph, prompt_id)
        try:
            outputs = run.execute()
        except Interrupted:
            self._last = None
            return _entry(item, {}, messages, run.interrupted())
        except NodeFailed as error:
            self._last = None
            return _entry(item, {}, messages, run.failed(error))
        self._last = (key, outputs)
        return _entry(item, outputs, messages, None)

    def forget(self) -> None:
        """Drop the cached results, as running any other prompt does."""
        self._last = None

    def save(self, graph_node: dict[str, Any], image: Image.Image, kind: str) -> dict[str, str]:
        prefix = str((graph_node.get("inputs") or {}).get("filename_prefix", "ComfyUI"))
        if kind == "temp":
            prefix = "ComfyUI_temp_fakes"
        subfolder, base = posixpath.split(prefix)
        if posixpath.normpath(prefix).startswith(".."):
            raise NodeFailed(
                "Exception",
                "**** ERROR: Saving image outside the output folder is not allowed.\n"
                " full_output_folder: /comfyui\n         output_dir: /comfyui/output\n"
                "         commonpath: /comfyui",
            )
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        with self._lock:
            taken = sum(1 for sub, n in self.files if sub == subfolder and n[:-11] == base)
            name = f"{base}_{taken + 1:05d}_.png"
            self.files[(subfolder, name)] = (buffer.getvalue(), kind)
        return {"filename": name, "subfolder": subfolder, "type": kind}


class _Run:
    """One prompt's execution: the nodes its outputs need, in dependency order."""

    def __init__(self, executor: Executor, graph: dict[str, Any], prompt_id: str) -> None:
        self.executor, self.graph, self.prompt_id = executor, graph, prompt_id
        self.values: dict[str, Any] = {}
        self.executed: list[str] = []
        self.current = next(iter(graph))
        #: the node a test's fail_execution hits: the graph's first (KSampler, in ours)
        self.failing = next(iter(graph))

    def execute(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        order = self._order()
        if not any(self.graph[n]["class_type"] == "TestSleep" for n in order):
            self.current = order[0]
            self.executor.wait()  # a test's hold() keeps the prompt running from its start
        for node_id in order:
            self.current = node_id
            result = self._node(node_id)
            if isinstance(result, dict):
                outputs[node_id] = {"images": [result]}
            self.values[node_id] = result
            self.executed.append(node_id)
        return outputs

    def _order(self) -> list[str]:
        order: list[str] = []

        def visit(node_id: str) -> None:
            if node_id in order:
                return
            for value in (self.graph[node_id].get("inputs") or {}).values():
                if isinstance(value, list):
                    visit(str(value[0]))
            order.append(node_id)

        for node_id, node in self.graph.items():
            if node["class_type"] in ("SaveImage", "PreviewImage"):
                visit(node_id)
        return order

    def _node(self, node_id: str) -> Any:
        node = self.graph[node_id]
        kind, inputs = node["class_type"], node.get("inputs") or {}
        if self.executor.fail_execution and node_id == self.failing:
            (exception_type, text), self.executor.fail_execution = (
                self.executor.fail_execution,
                None,
            )
            raise NodeFailed(exception_type, text)
        if kind in ("EmptyImage", "EmptyLatentImage"):
            color = int(inputs.get("color", 0x5AA05A))
            rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
            return Image.new("RGB", (int(inputs["width"]), int(inputs["height"])), rgb)
        if kind == "LoadImage":
            return Image.open(io.BytesIO(self.executor.uploads[inputs["image"]])).convert("RGB")
        if kind == "TestSyncError":
            raise NodeFailed("RuntimeError", "Intentional sync execution error for testing")
        if kind == "TestSleep":
            self.executor.wait()
        image = next(
            (
                self.values[str(v[0])]
                for v in inputs.values()
                if isinstance(v, list) and isinstance(self.values.get(str(v[0])), Image.Image)
            ),
            None,
        )
        if kind == "ImageInvert" and image is not None:
            return ImageOps.invert(image)
        if kind == "ImageScale" and image is not None:
            return image.resize((int(inputs["width"]), int(inputs["height"])))
        if kind in ("SaveImage", "PreviewImage") and image is not None:
            return self.executor.save(node, image, "output" if kind == "SaveImage" else "temp")
        return image

    def _message(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "node_id": self.current,
            "node_type": self.graph[self.current]["class_type"],
            "executed": list(self.executed),
        }

    def interrupted(self) -> list[Any]:
        return ["execution_interrupted", {**self._message(), "timestamp": _now()}]

    def failed(self, error: NodeFailed) -> list[Any]:
        frame = '  File "/comfyui/execution.py", line 496, in execute\n    <source line omitted>\n'
        inputs = self.graph[self.current].get("inputs") or {}
        details = {
            **self._message(),
            "exception_message": f"{error}\n",
            "exception_type": error.exception_type,
            "traceback": [frame],
            "current_inputs": {name: [repr(value)] for name, value in inputs.items()},
            "current_outputs": [self.current, *reversed(self.executed)],
            "timestamp": _now(),
        }
        return ["execution_error", details]


def _entry(
    item: list[Any], outputs: dict[str, Any], messages: list[Any], ended: list[Any] | None
) -> dict[str, Any]:
    if ended is None:
        ended = ["execution_success", {"prompt_id": item[1], "timestamp": _now()}]
    status = "error" if ended[0] != "execution_success" else "success"
    return {
        "prompt": list(item),
        "outputs": outputs,
        "status": {
            "status_str": status,
            "completed": status == "success",
            "messages": [*messages, ended],
        },
        "meta": {
            node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
            for node in outputs
        },
    }


def _now() -> int:
    return int(time.time() * 1000)
