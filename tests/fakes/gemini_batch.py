"""Gemini Batch Mode as FakeGemini serves it: POST /v1beta/models/{model}:batchGenerateContent
(inline requests, at most 20 MB in all), GET /v1beta/batches/{id}, GET /v1beta/batches
(pageSize, pageToken), POST /v1beta/batches/{id}:cancel.

Answers are long-running operations in the wire format: states `BATCH_STATE_*`, counts as
JSON strings, the output both in `metadata.output` and in `response` once done. Jobs finish
when the test says so (`finish_jobs()`, `expire_jobs()`, `fail_jobs()`) or after
`polls_to_finish` GETs
(None: never). Each request runs through the same validation and answer as a normal call; a
prompt containing `[blocked]` is blocked (HTTP 200 with promptFeedback), one containing
`[item-error]` fails its item with an error status. A failed job is a done operation with
`metadata.state` BATCH_STATE_FAILED and the operation's `error` (a google.rpc.Status: gRPC
code, message, details), which google-genai's BatchJob converter does not copy.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import Reply, Request

TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main"
CREATE = re.compile(r"/v1beta/models/([\w.-]+):batchGenerateContent")
ONE = re.compile(r"/v1beta/batches/([\w-]+)(:cancel)?")
RUNNING = ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")

Generate = Callable[[str, dict[str, Any]], Reply]


@dataclass
class Job:
    name: str
    model: str
    display_name: str | None
    requests: list[dict[str, Any]]
    state: str = "BATCH_STATE_PENDING"
    polls: int = 0
    created: str = field(default_factory=lambda: _now())
    responses: list[dict[str, Any]] | None = None
    #: the operation's google.rpc.Status once the job failed
    error: dict[str, Any] | None = None


def error(code: int, status: str, message: str) -> Reply:
    return Reply(code, {"error": {"code": code, "message": message, "status": status}})


class GeminiBatches:
    def __init__(self, generate: Generate) -> None:
        self.generate = generate
        self.jobs: dict[str, Job] = {}
        self.polls_to_finish: int | None = 2
        self.max_inline_bytes = 20 * 1024 * 1024
        self._ids = itertools.count(1)

    def finish_jobs(self) -> None:
        for job in self.jobs.values():
            if job.state in RUNNING:
                self._run(job)

    def expire_jobs(self) -> None:
        for job in self.jobs.values():
            if job.state in RUNNING:
                job.state = "BATCH_STATE_EXPIRED"

    def fail_jobs(self, code: int = 3, message: str = "Batch job failed.") -> None:
        """Fail every running job as the service does: `code` is a google.rpc.Code."""
        for job in self.jobs.values():
            if job.state in RUNNING:
                job.state = "BATCH_STATE_FAILED"
                job.error = {"code": code, "message": message, "details": []}

    def handle(self, request: Request) -> Reply | None:
        path = urlsplit(request.path).path
        if request.method == "POST" and (m := CREATE.fullmatch(path)):
            if len(request.body) > self.max_inline_bytes:
                message = f"Request payload size exceeds the limit: {self.max_inline_bytes} bytes."
                return error(400, "INVALID_ARGUMENT", message)
            return self._create(m.group(1), request.json())
        if request.method == "GET" and path == "/v1beta/batches":
            return self._list(parse_qs(urlsplit(request.path).query))
        if m := ONE.fullmatch(path):
            job = self.jobs.get(f"batches/{m.group(1)}")
            if job is None:
                return error(404, "NOT_FOUND", f"Batch batches/{m.group(1)} not found.")
            if m.group(2) and request.method == "POST":
                return self._cancel(job)
            if request.method == "GET":
                return self._get(job)
        return None

    def _create(self, model: str, body: dict[str, Any]) -> Reply:
        batch = body.get("batch")
        if set(body) != {"batch"} or not isinstance(batch, dict):
            return error(400, "INVALID_ARGUMENT", "Invalid JSON payload: expected {batch: …}.")
        unknown = set(batch) - {
            "displayName",
            "display_name",
            "inputConfig",
            "input_config",
            "priority",
        }
        config = _get(batch, "inputConfig", "input_config") or {}
        inline = (config.get("requests") or {}).get("requests")
        if unknown or not isinstance(inline, list) or not inline or "fileName" in config:
            return error(
                400, "INVALID_ARGUMENT", f"Invalid batch: {sorted(batch)} {sorted(config)}"
            )
        for item in inline:
            if (
                not isinstance(item, dict)
                or set(item) - {"request", "metadata"}
                or "request" not in item
            ):
                return error(400, "INVALID_ARGUMENT", "Each inlined request needs `request`.")
        name = f"batches/fakejob{next(self._ids):04d}"
        job = Job(name, model, _get(batch, "displayName", "display_name"), inline)
        self.jobs[name] = job
        return Reply(200, _operation(job))

    def _get(self, job: Job) -> Reply:
        job.polls += 1
        if job.state == "BATCH_STATE_PENDING":
            job.state = "BATCH_STATE_RUNNING"
        if (
            self.polls_to_finish is not None
            and job.polls >= self.polls_to_finish
            and job.state in RUNNING
        ):
            self._run(job)
        return Reply(200, _operation(job))

    def _cancel(self, job: Job) -> Reply:
        if job.state in RUNNING:
            job.state = "BATCH_STATE_CANCELLED"
        return Reply(200, {})

    def _list(self, query: dict[str, list[str]]) -> Reply:
        size = int(query.get("pageSize", ["50"])[0])
        start = int(query.get("pageToken", ["0"])[0])
        newest_first = list(reversed(self.jobs.values()))
        page = newest_first[start : start + size]
        body: dict[str, Any] = {"operations": [_operation(job) for job in page]}
        if start + size < len(newest_first):
            body["nextPageToken"] = str(start + size)
        return Reply(200, body)

    def _run(self, job: Job) -> None:
        job.responses = []
        for item in job.requests:
            answer: dict[str, Any] = {}
            if "metadata" in item:
                answer["metadata"] = item["metadata"]
            request = item["request"]
            prompt = " ".join(
                p.get("text", "") for c in request.get("contents", []) for p in c.get("parts", [])
            )
            if "[item-error]" in prompt:
                answer["error"] = {"code": 500, "message": "Internal error encountered."}
            elif "[blocked]" in prompt:
                answer["response"] = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}
            else:
                reply = self.generate(job.model, request)
                if reply.status == 200:
                    answer["response"] = reply.body
                else:
                    assert isinstance(reply.body, dict)
                    answer["error"] = {
                        "code": reply.status,
                        "message": reply.body["error"]["message"],
                    }
            job.responses.append(answer)
        job.state = "BATCH_STATE_SUCCEEDED"


def _operation(job: Job) -> dict[str, Any]:
    total = len(job.requests)
    stats = {"requestCount": str(total)}
    metadata: dict[str, Any] = {
        "@type": f"{TYPE}.GenerateContentBatch",
        "model": f"models/{job.model}",
        "displayName": job.display_name,
        "createTime": job.created,
        "updateTime": _now(),
        "batchStats": stats,
        "state": job.state,
        "name": job.name,
    }
    operation: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if job.state in RUNNING:
        stats["pendingRequestCount"] = str(total)
        return operation
    operation["done"] = True
    metadata["endTime"] = _now()
    if job.error is not None:
        operation["error"] = job.error
    if job.responses is not None:
        failed = sum(1 for r in job.responses if "error" in r)
        stats |= {"successfulRequestCount": str(total - failed)}
        if failed:
            stats["failedRequestCount"] = str(failed)
        output = {
            "@type": f"{TYPE}.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": job.responses},
        }
        metadata["output"] = output
        operation["response"] = output
    return operation


def _get(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
