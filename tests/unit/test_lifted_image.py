"""An Images API answer is parsed without its image text (images_http.lifted_image): the
same answer as json.loads gives, the image left as a view of the bytes that came."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from imagebatch.errors import ProviderUnavailable
from imagebatch.providers.images_http import lifted_image
from imagebatch.providers.openai_images import decoded

IMAGE = bytes(range(256)) * 40
B64 = base64.b64encode(IMAGE).decode()


def as_json(lifted: Any) -> Any:
    """The lifted answer with its image view turned back into the text it views."""
    item = lifted["data"][0]
    return {**lifted, "data": [{**item, "b64_json": bytes(item["b64_json"]).decode()}]}


@pytest.mark.parametrize(
    "answer",
    [
        {"created": 1, "data": [{"b64_json": B64}]},
        {"created": 1, "output_format": "jpeg", "data": [{"b64_json": B64, "revised_prompt": "b"}]},
        {"data": [{"revised_prompt": 'say "b64_json": "x"', "b64_json": B64}], "usage": {"n": 1}},
        {"data": [{"b64_json": ""}]},
    ],
)
def test_a_shaped_answer_parses_as_json_does(answer: dict[str, Any]) -> None:
    raw = json.dumps(answer, separators=(",", " : ")).encode()
    lifted = lifted_image(raw)
    assert isinstance(lifted["data"][0]["b64_json"], memoryview)
    assert as_json(lifted) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data":[{"b64_json":"QU\\/D"}]}',  # an escaped slash: not base64 as it stands
        b'{"x":{"b64_json":"QUJD"},"data":[{"b64_json":"AAAA"}]}',  # another field first
        b'{"x":{"b64_json":"QUJD"},"data":[{"url":"https://example.com/a.png"}]}',
        b'{"data":[{"b64_json":"\\u0000lifted"}]}',  # the marker itself, sent by the server
        b'{"data":[{"url":"https://example.com/a.png"}]}',
        b'{"data":{"b64_json":"QUJD"}}',
        b'[{"b64_json":"QUJD"}]',
        b'{"data":[{"b64_json":"QUJD"}',  # cut short
        b"<html>bad gateway</html>",
    ],
)
def test_any_other_answer_is_left_to_json(raw: bytes) -> None:
    assert lifted_image(raw) is None


def test_the_view_decodes_strictly() -> None:
    lifted = lifted_image(json.dumps({"data": [{"b64_json": B64}]}).encode())
    assert decoded(lifted["data"][0]["b64_json"], "p", None) == IMAGE
    cut = lifted_image(json.dumps({"data": [{"b64_json": B64[:-3]}]}).encode())
    with pytest.raises(ProviderUnavailable, match="not valid base64"):
        decoded(cut["data"][0]["b64_json"], "p", None)
