"""Fake Volcengine visual API for Jimeng 4.0: signed submit and poll, verified exactly.

The signature is recomputed from the received request with the official SDK's signing
primitives and this fake's secret; a mismatch answers SignatureDoesNotMatch as the gateway does.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from PIL import Image
from volcengine.auth.MetaData import MetaData
from volcengine.auth.SignerV4 import SignerV4
from volcengine.base.Request import Request as VolcRequest
from volcengine.util.Util import Util

from tests.fakes.server import FakeServer, Reply, Request

AUTH = re.compile(
    r"HMAC-SHA256 Credential=(?P<ak>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]+)"
)
#: the documented business codes: (HTTP status, message)
CODES = {
    50411: (400, "Pre Img Risk Not Pass"),
    50511: (400, "Post Img Risk Not Pass"),
    50412: (400, "Text Risk Not Pass"),
    50512: (400, "Post Text Risk Not Pass"),
    50413: (400, "Post Text Risk Not Pass"),
    50429: (429, "Request Has Reached API Limit, Please Try Later"),
    50430: (429, "Request Has Reached API Concurrent Limit, Please Try Later"),
    50500: (500, "Internal Error"),
    50501: (500, "Internal RPC Error"),
}


def documented(code: int) -> Reply:
    """A documented business error, with its HTTP status and message."""
    status, message = CODES[code]
    return business_error(status, code, message)


def business_error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "data": None,
            "message": message,
            "request_id": "2024fake",
            "status": code,
            "time_elapsed": "1ms",
        },
    )


def gateway_error(code: str, message: str, status: int = 401) -> Reply:
    """The common Volcengine envelope: signature and key faults (401), or the gateway's own
    trouble (`InternalError` 500, `ServiceUnavailable` 503)."""
    return Reply(
        status,
        {
            "ResponseMetadata": {
                "RequestId": "fake",
                "Action": "CVSync2AsyncSubmitTask",
                "Version": "2022-08-31",
                "Service": "cv",
                "Region": "cn-north-1",
                "Error": {"Code": code, "Message": message},
            }
        },
    )


class FakeJimeng(FakeServer):
    def __init__(
        self, access: str = "AKLTfake", secret: str = "fake-secret", polls: int = 1
    ) -> None:
        super().__init__()
        self.access, self.secret, self.polls = access, secret, polls
        self.tasks: dict[str, dict[str, Any]] = {}
        #: the code the next finished task ends with (10000 = success)
        self.finish_code = 10000

    def too_many(self, retry_after: float) -> Reply:
        return business_error(429, 50429, "Request Has Reached API Limit")

    def handle(self, request: Request) -> Reply:
        problem = self._verify(request)
        if problem:
            return gateway_error("SignatureDoesNotMatch", problem)
        action = dict(parse_qsl(urlsplit(request.path).query)).get("Action")
        body = request.json()
        if action == "CVSync2AsyncSubmitTask":
            return self._submit(body)
        if action == "CVSync2AsyncGetResult":
            return self._result(body)
        return gateway_error("InvalidActionOrVersion", f"unknown action {action}")

    def _submit(self, body: dict[str, Any]) -> Reply:
        if body.get("req_key") != "jimeng_t2i_v40" or not body.get("prompt"):
            return business_error(400, 50400, "Invalid parameter")
        width, height = int(body.get("width", 2048)), int(body.get("height", 2048))
        # documented: width × height within [1024², 4096²], width / height within
        # [min_ratio, max_ratio] (defaults 1/3 and 3)
        if not 1024 * 1024 <= width * height <= 4096 * 4096:
            return business_error(400, 50400, f"size out of range: {width * height}")
        low, high = float(body.get("min_ratio", 1 / 3)), float(body.get("max_ratio", 3))
        if not low <= width / height <= high:
            return business_error(400, 50400, f"ratio out of range: {width}x{height}")
        task_id = str(uuid.uuid4().int)[:19]
        self.tasks[task_id] = {"body": body, "polls": 0}
        return Reply(
            200,
            {
                "code": 10000,
                "data": {"task_id": task_id},
                "message": "Success",
                "request_id": "submit-fake",
                "status": 10000,
                "time_elapsed": "100ms",
            },
        )

    def _result(self, body: dict[str, Any]) -> Reply:
        task = self.tasks.get(str(body.get("task_id")))
        if task is None:
            return Reply(
                200, {"code": 10000, "data": {"status": "not_found"}, "message": "Success"}
            )
        if not isinstance(body.get("req_json"), str):
            return business_error(400, 50400, "req_json must be a JSON string")
        task["polls"] += 1
        if task["polls"] <= self.polls:
            return Reply(
                200, {"code": 10000, "data": {"status": "generating"}, "message": "Success"}
            )
        code, self.finish_code = self.finish_code, 10000
        if code != 10000:  # done, yet failed: only the outer code says so
            status, message = CODES[code]
            return Reply(
                status,
                {
                    "code": code,
                    "data": {"status": "done"},
                    "message": message,
                    "request_id": "poll-fake",
                    "status": code,
                },
            )
        image = _jpeg(int(task["body"]["width"]), int(task["body"]["height"]))
        return Reply(
            200,
            {
                "code": 10000,
                "data": {"binary_data_base64": [image], "image_urls": None, "status": "done"},
                "message": "Success",
                "request_id": "poll-fake",
                "status": 10000,
            },
        )

    def _verify(self, request: Request) -> str | None:
        match = AUTH.fullmatch(request.headers.get("authorization", ""))
        if match is None or match["ak"] != self.access:
            return "missing or foreign credential"
        date = request.headers.get("x-date", "")
        scope = f"{date[:8]}/cn-north-1/cv/request"
        if match["scope"] != scope:
            return "bad credential scope"
        rebuilt = VolcRequest()
        rebuilt.set_method(request.method)
        rebuilt.set_path("/")
        rebuilt.set_query(dict(parse_qsl(urlsplit(request.path).query)))
        # the signer filters headers by their canonical casing: give them that back
        rebuilt.set_headers(
            {
                "-".join(part.capitalize() for part in name.split("-")): request.headers[name]
                for name in match["signed"].split(";")
            }
        )
        rebuilt.set_body(request.body.decode())
        meta = MetaData()
        meta.set_date(date[:8])
        hashed = SignerV4.hashed_canonical_request_v4(rebuilt, meta)
        to_sign = "\n".join(["HMAC-SHA256", date, scope, hashed])
        key = SignerV4.get_signing_secret_key_v4(self.secret, date[:8], "cn-north-1", "cv")
        expected = Util.to_hex(Util.hmac_sha256(key, to_sign))
        return (
            None
            if expected == match["signature"]
            else "The request signature we calculated does not match"
        )


def _jpeg(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 30, 160)).resize((width, height)).save(buffer, "JPEG", quality=50)
    return base64.b64encode(buffer.getvalue()).decode()
