"""Reference images given as URLs: fetched over real HTTP on 127.0.0.1, with limits."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image

from imagebatch.app import build_app
from imagebatch.config import Settings
from imagebatch.errors import InputError
from imagebatch.providers.demo import DemoProvider
from tests.fakes.server import LoopbackServer
from tests.flat_requests import task_spec
from tests.integration.helpers import submit


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, "PNG")
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/hop/"):
            n = int(self.path.rsplit("/", 1)[-1])
            self.send_response(302)
            self.send_header("Location", f"/hop/{n + 1}")
            self.end_headers()
            return
        body = png() if self.path == "/ref.png" else b"x" * 5_000_000
        self.send_response(200 if self.path in {"/ref.png", "/huge.png"} else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    # quiet when the client hangs up first (a refused oversize download does)
    httpd = LoopbackServer(("127.0.0.1", 0), Handler)
    # polled often, as the fakes' servers are: shutdown() waits for the next poll
    serve = {"poll_interval": 0.02}
    thread = threading.Thread(target=httpd.serve_forever, kwargs=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def submit_ref(tmp_path: Path, database_url: str, url: str, **settings: object) -> object:
    config = Settings(
        data_dir=tmp_path / "d",
        database_url=database_url,
        max_image_bytes=1_000_000,
        **settings,  # type: ignore[arg-type]
    )
    app = await build_app(config, providers={"demo": DemoProvider()})
    try:
        spec = task_spec("use the reference", reference_images=(url,), source="row 2")
        return await submit(app, [spec])
    finally:
        await app.close()


async def test_url_reference_is_fetched_when_allowed(
    tmp_path: Path, database_url: str, server: str
) -> None:
    batch = await submit_ref(tmp_path, database_url, f"{server}/ref.png", allow_private_urls=True)
    assert batch.total == 1  # type: ignore[attr-defined]


async def test_private_addresses_are_refused_by_default(
    tmp_path: Path, database_url: str, server: str
) -> None:
    with pytest.raises(InputError, match="points to a private or local address"):
        await submit_ref(tmp_path, database_url, f"{server}/ref.png")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/huge.png", "over the limit"),
        ("/missing.png", "answered HTTP 404"),
        ("/hop/0", "redirects more than 3 times"),
    ],
)
async def test_fetch_limits(
    tmp_path: Path, database_url: str, server: str, path: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        await submit_ref(tmp_path, database_url, f"{server}{path}", allow_private_urls=True)
    assert caught.value.issues[0].where == "row 2, column reference_images"


async def test_non_http_schemes_are_refused(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(InputError, match="no such file"):
        await submit_ref(tmp_path, database_url, "file:///etc/passwd")
