"""The OpenAI Files and Batch APIs, as FakeOpenAI serves them: POST /v1/files (multipart,
purpose=batch), GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id},
GET /v1/batches?limit=&after=, POST /v1/batches/{id}/cancel.

Jobs run when the test says so: `finish_jobs()`, `expire_jobs(done=k)`, or on their own after
`polls_to_finish` retrievals (None: never). Each line runs through the same validation and
answer as a normal call; prompts containing `[moderation]` or `[server-error]` fail their
line the way the API would, inside a completed batch.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.fakes.server import Reply, Request

ENDPOINTS = {"/v1/images/generations", "/v1/images/edits"}
DATA_URL = re.compile(r"data:(image/[\w.+-]+);base64,(.+)", re.S)

Answer = Callable[[dict[str, Any]], Reply]
ErrorReply = Callable[..., Reply]


@dataclass
class Job:
    body: dict[str, Any]
    lines: list[dict[str, Any]]
    polls: int = 0
    results: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


class OpenAIBatches:
    def __init__(self, answer: Answer, error: ErrorReply) -> None:
        self.answer = answer
        self.error = error
        self.files: dict[str, tuple[str, bytes]] = {}
        self.jobs: dict[str, Job] = {}
        self.polls_to_finish: int | None = 2
        self._ids = itertools.count(1)

    # --- what tests drive ------------------------------------------------------------------

    def finish_jobs(self) -> None:
        for job in self.jobs.values():
            if job.body["status"] in ("validating", "in_progress", "finalizing"):
                self._complete(job, len(job.lines), "completed")

    def expire_jobs(self, done: int = 0) -> None:
        """Running jobs expire with their first `done` lines answered."""
        for job in self.jobs.values():
            if job.body["status"] in ("validating", "in_progress", "finalizing"):
                self._complete(job, done, "expired")

    @property
    def created(self) -> list[dict[str, Any]]:
        return [job.body for job in self.jobs.values()]

    # --- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply | None:
        path = urlsplit(request.path).path
        if request.method == "POST" and path == "/v1/files":
            return self._upload(request)
        if request.method == "GET" and (m := re.fullmatch(r"/v1/files/([\w-]+)/content", path)):
            return self._content(m.group(1))
        if request.method == "DELETE" and (m := re.fullmatch(r"/v1/files/([\w-]+)", path)):
            return self._delete(m.group(1))
        if request.method == "POST" and path == "/v1/batches":
            return self._create(request.json())
        if request.method == "GET" and path == "/v1/batches":
            return self._list(parse_qs(urlsplit(request.path).query))
        if m := re.fullmatch(r"/v1/batches/([\w-]+)(/cancel)?", path):
            job = self.jobs.get(m.group(1))
            if job is None:
                return self.error(
                    404, f"No batch found with id '{m.group(1)}'.", "invalid_request_error", None
                )
            return self._cancel(job) if m.group(2) else self._retrieve(job)
        return None

    def _upload(self, request: Request) -> Reply:
        parts = {name: (filename, content) for name, filename, content in request.form()}
        if parts.get("purpose", (None, b""))[1] != b"batch" or "file" not in parts:
            return self.error(
                400, "Missing or invalid 'purpose' or 'file'.", "invalid_request_error", None
            )
        filename, content = parts["file"]
        file_id = f"file-{next(self._ids):06d}"
        self.files[file_id] = (filename or "upload.jsonl", content)
        return Reply(200, _file_object(file_id, filename, content))

    def _content(self, file_id: str) -> Reply:
        if file_id not in self.files:
            return self.error(404, f"No such File object: {file_id}", "invalid_request_error", None)
        return Reply(200, self.files[file_id][1], {"Content-Type": "application/octet-stream"})

    def _delete(self, file_id: str) -> Reply:
        if self.files.pop(file_id, None) is None:
            return self.error(404, f"No such File object: {file_id}", "invalid_request_error", None)
        return Reply(200, {"id": file_id, "object": "file", "deleted": True})

    def _create(self, body: dict[str, Any]) -> Reply:
        unknown = set(body) - {
            "input_file_id",
            "endpoint",
            "completion_window",
            "metadata",
            "output_expires_after",
        }
        if (
            unknown
            or body.get("completion_window") != "24h"
            or body.get("endpoint") not in ENDPOINTS
        ):
            return self.error(
                400, f"Invalid batch request: {sorted(body)}", "invalid_request_error", None
            )
        if body["input_file_id"] not in self.files:
            return self.error(
                404, "No such File object.", "invalid_request_error", None, "input_file_id"
            )
        metadata = body.get("metadata") or {}
        if len(metadata) > 16 or any(len(k) > 64 or len(str(v)) > 512 for k, v in metadata.items()):
            return self.error(400, "Invalid metadata.", "invalid_request_error", None, "metadata")
        batch_id = f"batch_{next(self._ids):06d}"
        lines, problems = _parse(self.files[body["input_file_id"]][1], body["endpoint"])
        job = Job(_batch(batch_id, body), lines)
        if problems:
            job.body |= {"status": "failed", "failed_at": int(time.time())}
            job.body["errors"] = {"object": "list", "data": problems}
        self.jobs[batch_id] = job
        return Reply(200, job.body)

    def _retrieve(self, job: Job) -> Reply:
        job.polls += 1
        status = job.body["status"]
        if status == "validating":
            job.body |= {"status": "in_progress", "in_progress_at": int(time.time())}
        elif status == "cancelling":
            self._complete(job, 0, "cancelled")
        due = self.polls_to_finish is not None and job.polls >= self.polls_to_finish
        if due and job.body["status"] == "in_progress":
            self._complete(job, len(job.lines), "completed")
        return Reply(200, job.body)

    def _cancel(self, job: Job) -> Reply:
        if job.body["status"] not in ("validating", "in_progress", "finalizing"):
            return self.error(
                400,
                f"Cannot cancel a batch with status '{job.body['status']}'.",
                "invalid_request_error",
                None,
            )
        job.body |= {"status": "cancelling", "cancelling_at": int(time.time())}
        return Reply(200, job.body)

    def _list(self, query: dict[str, list[str]]) -> Reply:
        limit = int(query.get("limit", ["20"])[0])
        newest_first = list(reversed(self.jobs))
        if "after" in query:
            newest_first = newest_first[newest_first.index(query["after"][0]) + 1 :]
        page = [self.jobs[i].body for i in newest_first[:limit]]
        return Reply(
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(newest_first) > limit,
            },
        )

    def _complete(self, job: Job, done: int, status: str) -> None:
        """Answer the first `done` lines; the rest never run. Write the output/error files."""
        output, errors = [], []
        for index, line in enumerate(job.lines):
            if index >= done:
                errors.append(_unrun(line, status))
                continue
            reply = self._run(line)
            entry = {
                "id": f"batch_req_{index}",
                "custom_id": line["custom_id"],
                "response": {
                    "status_code": reply.status,
                    "request_id": f"req_{index}",
                    "body": reply.body,
                },
                "error": None,
            }
            (output if reply.status == 200 else errors).append(entry)
        now = int(time.time())
        counts = {
            "total": len(job.lines),
            "completed": len(output),
            "failed": len(job.lines) - len(output),
        }
        job.body |= {"status": status, f"{status}_at": now, "request_counts": counts}
        for name, entries in (("output_file_id", output), ("error_file_id", errors)):
            if entries:
                file_id = f"file-{next(self._ids):06d}"
                self.files[file_id] = (
                    "batch.jsonl",
                    "".join(json.dumps(e) + "\n" for e in entries).encode(),
                )
                job.body[name] = file_id

    def _run(self, line: dict[str, Any]) -> Reply:
        body = dict(line["body"])
        prompt = str(body.get("prompt", ""))
        if "[moderation]" in prompt:
            return self.error(
                400,
                "Your request was rejected by the safety system.",
                "image_generation_user_error",
                "moderation_blocked",
            )
        if "[server-error]" in prompt:
            return self.error(
                500, "The server had an error processing your request.", "server_error", None
            )
        if line["url"] == "/v1/images/edits":
            problem = _edit_images(body.pop("images", None))
            if problem:
                return self.error(400, problem, "invalid_request_error", "invalid_value", "images")
        return self.answer(body)


def _parse(content: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.decode().splitlines(), start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            problems.append(
                _problem(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            )
            continue
        if set(line) != {"custom_id", "method", "url", "body"} or line["method"] != "POST":
            problems.append(
                _problem(number, "invalid_request", "Each line needs custom_id, method, url, body.")
            )
        elif line["url"] != endpoint:
            problems.append(_problem(number, "mismatched_endpoint", f"The url must be {endpoint}."))
        elif not isinstance(line["custom_id"], str) or line["custom_id"] in seen:
            problems.append(_problem(number, "duplicate_custom_id", "custom_id must be unique."))
        else:
            seen.add(line["custom_id"])
            lines.append(line)
    return lines, problems


def _edit_images(images: Any) -> str | None:
    """The JSON form of an edit: `images` of {image_url: data URL} (or {file_id})."""
    if not isinstance(images, list) or not images or len(images) > 16:
        return "Missing required parameter: 'images' (1 to 16 image references)."
    for ref in images:
        if not isinstance(ref, dict) or set(ref) != {"image_url"}:
            return "Each image reference needs exactly one of image_url or file_id."
        match = DATA_URL.fullmatch(ref["image_url"])
        if match is None:
            return "image_url must be a URL or a base64 data URL."
        try:
            Image.open(io.BytesIO(base64.b64decode(match.group(2), validate=True))).verify()
        except (binascii.Error, ValueError, OSError):
            return "Invalid image data."
    return None


def _unrun(line: dict[str, Any], status: str) -> dict[str, Any]:
    expired = status == "expired"
    code = "batch_expired" if expired else "batch_cancelled"
    message = (
        "This request could not be executed before the completion window expired."
        if expired
        else "This request was cancelled before it ran."
    )
    return {
        "id": "batch_req_x",
        "custom_id": line["custom_id"],
        "response": None,
        "error": {"code": code, "message": message},
    }


def _problem(line: int, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _file_object(file_id: str, filename: str | None, content: bytes) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename or "upload.jsonl",
        "purpose": "batch",
        "status": "processed",
    }


def _batch(batch_id: str, body: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": body["input_file_id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + 86400,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }
