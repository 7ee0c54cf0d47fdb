"""A live `imagebatch serve` (uvicorn on its own thread and event loop, a SQLite data dir,
the demo provider, and OpenAI with economy mode against the fake OpenAI server on
127.0.0.1) and Debian's Chromium driven by Playwright.

Every test gets a fresh browser context whose console errors and page errors fail it, and
saves screenshots to test-artifacts/screenshots/. Without /usr/bin/chromium the tests are
skipped, unless IMAGEBATCH_TEST_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from imagebatch.app import App, build_app
from imagebatch.config import Settings
from imagebatch.domain.accounts import Role
from imagebatch.domain.credits import to_micros
from imagebatch.engine.runtime import RuntimeSettingsUpdate
from imagebatch.providers.demo import DemoProvider
from imagebatch.providers.openai_batch import OpenAIBatchProvider
from imagebatch.web import install_web
from tests.api.threaded import ThreadedServer
from tests.fakes.openai_images import FakeOpenAI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "web-test-password"
#: small, so the edit page can show a "too large" file without a huge fixture
MAX_IMAGE_BYTES = 512 * 1024
#: neither the default 8,000 nor a number of the pages' own: the boxes must ask the server
MAX_PROMPT_CHARS = 6_000
USERS = {
    "admin": Role.ADMIN,
    "alice": Role.USER,
    "carol": Role.USER,
    "dave": Role.USER,
    "erin": Role.USER,
    "frank": Role.USER,
    "grace": Role.USER,
    #: the hardening messages test (grace changes her password in test_account)
    "heidi": Role.USER,
    "ivan": Role.USER,  # the compose defects (test_compose_defects.py)
    "judy": Role.ADMIN,  # words and phone layouts (test_words_and_phone.py)
    "kate": Role.USER,  # cancelled batches, cancel confirmation, focus ring (test_cancelled.py)
    "mona": Role.USER,  # the gallery: grid, selection, bulk actions (test_gallery.py)
    "lena": Role.USER,  # the lightbox: before/after and zoom (test_lightbox.py)
    "mia": Role.ADMIN,  # every page read in Chinese (test_zh_walk.py)
    "nora": Role.USER,  # short of credits in Chinese (test_zh_walk.py)
    "otto": Role.USER,  # error codes said in the page's language (test_error_codes_pages.py)
    "paul": Role.USER,  # the prompt boxes' length limit (test_prompt_limits.py)
}
#: the server's OpenAI key, and one a user brings as their own (the fake accepts both)
OPENAI_KEY = "sk-server-key-1111"
OWN_OPENAI_KEY = "sk-erin-own-key-4321"
OPENAI_PRICE = 0.25
T = TypeVar("T")


class LiveServer(ThreadedServer):
    """The web UI's server: the demo provider, and OpenAI (economy mode) against a fake."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, extra=install_web)
        self._fake_url = ""  # the fake OpenAI's, once main() started it

    async def main(self) -> None:
        with FakeOpenAI(f"{OPENAI_KEY},{OWN_OPENAI_KEY}") as fake:
            self._fake_url = fake.base_url
            await super().main()

    async def prepare(self) -> App:
        settings = Settings(
            data_dir=self.data_dir,
            retry_base_delay=0,
            retry_max_delay=0,
            max_prompt_chars=MAX_PROMPT_CHARS,
            prices={"demo/demo": 0.5, "openai/gpt-image-1": OPENAI_PRICE},
        )
        openai = OpenAIBatchProvider(SecretStr(OPENAI_KEY), self._fake_url, 10.0)
        app = await build_app(
            settings, providers={"demo": DemoProvider(latency_ms=60), "openai": openai}
        )
        app.accounts.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for name, role in USERS.items():
            await app.accounts.create_user(name, PASSWORD, role, to_micros(1000))
        await app.runtime_settings.update(RuntimeSettingsUpdate(max_image_bytes=MAX_IMAGE_BYTES))
        return app


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from LiveServer(tmp_path_factory.mktemp("web") / "data").serve()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's synchronous API keeps an event loop running while it is
    open, and async tests cannot start theirs meanwhile."""
    if not CHROMIUM.exists():
        if os.environ.get("IMAGEBATCH_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of a page; `allow` what a test provokes."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def record(self, text: str) -> None:
        self.errors.append(text)

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@dataclass
class Browse:
    """One test's browser: pages in fresh contexts, logged in as someone or nobody."""

    browser: Any
    live: LiveServer
    console: Console
    contexts: list[Any] = field(default_factory=list)

    def page(self, *, locale: str = "en-US", width: int = 1280, height: int = 900) -> Any:
        context = self.browser.new_context(
            base_url=self.live.url,
            locale=locale,
            viewport={"width": width, "height": height},
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.console.record(m.text))
        page.on("pageerror", lambda error: self.console.record(f"pageerror: {error}"))
        return page

    def login(self, name: str, **options: Any) -> Any:
        page = self.page(**options)
        page.goto("/login")
        page.locator("#login-name").fill(name)
        page.locator("#login-password").fill(PASSWORD)
        page.locator("#login-submit").click()
        page.wait_for_url("**/compose")
        page.locator("body[data-ready]").wait_for()
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser: Any, live: LiveServer) -> Iterator[Browse]:
    harness = Browse(browser, live, Console())
    try:
        yield harness
    finally:
        harness.close()
    assert not harness.console.unexpected(), harness.console.unexpected()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def csrf(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "ib_csrf")


def create_batch(page: Any, body: dict[str, Any]) -> int:
    """A batch through the API with the page's session (setup for tests about viewing)."""
    answer = page.request.post("/api/batches", data=body, headers={"X-CSRF-Token": csrf(page)})
    assert answer.status == 201, answer.text()
    batch_id: int = answer.json()["batch"]["id"]
    return batch_id
