"""The fake ComfyUI answers as the real one did: every recorded exchange
(tests/fakes/recordings/comfyui, from a real ComfyUI 0.3.64) is replayed against the fake, in
sessions that rebuild the server state it was recorded in, and each answer's status, headers
that matter and body SHAPE are compared: keys, value types, and the values the provider reads
(error types, messages, details, status, message names, file names). Prompt ids, numbers,
timestamps and tracebacks are normalised; ids and file names the fake chose are mapped onto
the recorded ones for the requests that follow."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakes.comfyui import FakeComfyUI

RECORDINGS = Path(__file__).parents[1] / "fakes" / "recordings" / "comfyui"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: strings that legitimately differ (machine, paths, tensors): only their type is compared
FREE = {"traceback", "current_inputs", "exception_message", "python_version", "pytorch_version"}
FREE |= {"argv", "ram_total", "ram_free"}
#: keys whose string values the fake chose and later requests name
CHOSEN = {"prompt_id", "filename", "name"}

SESSIONS = {
    "idle server": [
        "system_stats",
        "features",
        "queue_idle",
        "prompt_get",
        "history_unknown",
        *(f"object_info_{c}" for c in ("EmptyImage", "SaveImage", "PreviewImage", "KSampler")),
        *(f"object_info_{c}" for c in ("EmptyLatentImage", "ImageScale", "unknown")),
        "view_missing",
    ],
    "refusals": sorted(p.stem for p in RECORDINGS.glob("prompt_400_*.json")),
    "prompt ids": [
        "prompt_accepted_client_prompt_id",
        "prompt_accepted_reused_prompt_id",
        "prompt_accepted_server_id",
        "prompt_accepted_api_prefix",
    ],
    "runs": [
        "history_success",
        "history_cached",
        "view_output",
        "history_execution_error",
        "history_preview_only",
        "history_prefix_outside_output",
        "history_slow_core",
    ],
    "uploads": [
        "upload_image",
        "upload_image_no_file",
        "object_info_LoadImage",
        "history_edit",
        "upload_delete_attempts",
    ],
    "queue, delete, interrupt": [
        "queue_running_and_pending",
        "queue_delete_pending",
        "interrupt_other_prompt_id",
        "queue_delete_running",
        "history_deleted_prompt",
        "interrupt_by_prompt_id",
        "prompt_get_busy",
        "interrupt_global",
    ],
}


#: cases whose prompt the recorder looked at before it ran (it runs at once on the fake)
HELD = {"prompt_accepted_reused_prompt_id"}


def recording(case: str) -> dict[str, Any]:
    return dict(json.loads((RECORDINGS / f"{case}.json").read_text("utf-8")))


def test_every_recording_is_replayed() -> None:
    replayed = {case for cases in SESSIONS.values() for case in cases}
    assert replayed == {p.stem for p in RECORDINGS.glob("*.json")}


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(checkpoints=[]) as server:  # the real one had no model files
        yield server


@pytest.mark.parametrize("session", list(SESSIONS))
def test_the_fake_answers_as_the_real_server_did(fake: FakeComfyUI, session: str) -> None:
    replay = Replay(fake)
    if session.startswith("queue"):
        fake.hold()  # the recorder's TestSleep prompts ran 5 s: long enough for every look
    with httpx.Client(base_url=fake.url, timeout=5) as http:
        for case in SESSIONS[session]:
            if case in HELD:
                fake.hold()
            for number, exchange in enumerate(recording(case)["exchanges"]):
                replay.exchange(http, f"{case}[{number}]", exchange)
    fake.release()
    assert replay.differences == []


class Replay:
    def __init__(self, fake: FakeComfyUI) -> None:
        self.fake = fake
        #: recorded id or file name → the one the fake chose
        self.names: dict[str, str] = {}
        self.differences: list[str] = []

    def exchange(self, http: httpx.Client, where: str, exchange: dict[str, Any]) -> None:
        request, recorded = exchange["request"], exchange["response"]
        path = self._mapped(request["path"])
        self._settle(request, recorded, path)
        answer = http.request(request["method"], path, **self._content(request))
        self._compare(where, recorded, answer)

    def _settle(self, request: dict[str, Any], recorded: dict[str, Any], path: str) -> None:
        """Let the fake's executor reach the state the recorder waited for."""
        if request["method"] != "GET":
            return
        if path.startswith("/history/") and recorded["body"]:
            self.fake.wait_finished(path.removeprefix("/history/"))
        if path in ("/queue", "/prompt"):
            self.fake.wait_settled()

    def _content(self, request: dict[str, Any]) -> dict[str, Any]:
        if "json" in request:
            return {"json": json.loads(self._mapped(json.dumps(request["json"])))}
        if "multipart" not in request:
            return {}
        files, data = {}, {}
        for name, value in request["multipart"].items():
            if found := re.fullmatch(r"<file '(.+)', (.+)>", value):
                files[name] = (found[1], png(), found[2])
            else:
                data[name] = value
        return {"files": files, "data": data}

    def _mapped(self, text: str) -> str:
        for recorded, chosen in self.names.items():
            text = text.replace(recorded, chosen)
        return text

    def _compare(self, where: str, recorded: dict[str, Any], answer: httpx.Response) -> None:
        ours = _answer(answer)
        theirs = {
            "status": recorded["status"],
            "headers": _headers(recorded["headers"]),
            "body": _recorded_body(recorded["body"]),
        }
        if isinstance(theirs["body"], dict | list):
            self._learn(recorded["body"], answer.json())
        self.differences += [f"{where}{d}" for d in differences(ours, theirs)]

    def _learn(self, recorded: Any, ours: Any) -> None:
        """Map the ids and file names the real server chose onto the fake's."""
        if isinstance(recorded, dict) and isinstance(ours, dict):
            for (key, value), (our_key, our_value) in zip(
                recorded.items(), ours.items(), strict=False
            ):
                if UUID.fullmatch(key) and isinstance(our_key, str):
                    self.names.setdefault(key, our_key)
                if key in CHOSEN and isinstance(value, str) and isinstance(our_value, str):
                    self.names.setdefault(value, our_value)
                self._learn(value, our_value)
        if isinstance(recorded, list) and isinstance(ours, list):
            for value, our_value in zip(recorded, ours, strict=False):
                self._learn(value, our_value)


def _answer(answer: httpx.Response) -> dict[str, Any]:
    kind = answer.headers.get("content-type", "")
    if not answer.content:
        body: Any = ""
    elif kind.startswith("application/json"):
        body = shape(answer.json())
    elif kind.startswith("text/"):
        body = answer.text
    else:
        body = f"bytes of {kind.split(';')[0]}"
    return {"status": answer.status_code, "headers": _headers(answer.headers), "body": body}


def _recorded_body(body: Any) -> Any:
    if isinstance(body, dict) and set(body) == {"omitted"}:  # image bytes
        size, kind = re.fullmatch(r"(\d+) bytes of (.+)", body["omitted"]).groups()  # type: ignore[union-attr]
        return f"bytes of {kind}" if int(size) else ""
    return body if isinstance(body, str) else shape(body)


def _headers(headers: Any) -> dict[str, str]:
    """The headers a client may read: type, allowed methods, a download's file name."""
    kept = {k.lower(): str(v) for k, v in dict(headers).items()}
    return {
        k: UUID.sub("<id>", v) if k != "content-disposition" else "filename=…"
        for k, v in kept.items()
        if k in ("content-type", "allow", "content-disposition", "cache-control")
    }


def differences(ours: Any, theirs: Any, at: str = "") -> list[str]:
    """Where two normalised answers differ, as `path: fake … real …` lines."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = [f"{at}.{k}: only the fake has it" for k in ours.keys() - theirs.keys()]
        found += [f"{at}.{k}: only the real server has it" for k in theirs.keys() - ours.keys()]
        for k in ours.keys() & theirs.keys():
            found += differences(ours[k], theirs[k], f"{at}.{k}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        pairs = enumerate(zip(ours, theirs, strict=True))
        return [d for i, (a, b) in pairs for d in differences(a, b, f"{at}[{i}]")]
    return [] if ours == theirs else [f"{at}: fake {ours!r}, real {theirs!r}"]


def shape(value: Any, key: str = "") -> Any:
    """`value` with what legitimately differs between two servers normalised away."""
    if key in FREE:
        return type(value).__name__
    if isinstance(value, dict):
        return {("<id>" if UUID.fullmatch(k) else k): shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            return ["str", "…"]  # node ids, file names, traceback frames: any number
        return [shape(v, key) for v in value]
    if isinstance(value, str):
        text = re.sub(r"_temp_[a-z]{5}_", "_temp_…_", UUID.sub("<id>", value))
        return re.sub(r"\d+", "N", text)
    if isinstance(value, bool) or value is None:
        return value if key != "index" else None
    return type(value).__name__


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (5, 3), "blue").save(buffer, "PNG")
    return buffer.getvalue()
