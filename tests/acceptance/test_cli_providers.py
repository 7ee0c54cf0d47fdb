"""`imagebatch run --provider NAME` against each provider's fake, as the README shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image

from tests.acceptance.conftest import Cli
from tests.fakes.openai_images import FakeOpenAI, rate_limited

KEY = "sk-cli-test-key-1234"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY) as server:
        yield server


def test_run_with_openai(cli: Cli, fake_openai: FakeOpenAI) -> None:
    cli.env |= {
        "IMAGEBATCH_OPENAI_API_KEY": KEY,
        "IMAGEBATCH_OPENAI_BASE_URL": fake_openai.base_url,
        "IMAGEBATCH_RETRY_BASE_DELAY": "0",
    }
    fake_openai.fail_next(rate_limited(0.01))  # one 429 on the way: retried by the engine
    result = cli.run(
        "run",
        "--provider",
        "openai",
        "--prompt",
        "a {red|blue} mug",
        "--aspect-ratio",
        "3:2",
        "--param",
        "quality=low",
        "--param",
        "output_format=webp",
        "--out",
        "mugs",
    )
    assert result.returncode == 0, result.stderr
    files = sorted((cli.cwd / "mugs").glob("*.webp"))
    assert len(files) == 2
    with Image.open(files[0]) as image:
        assert image.size == (1536, 1024)
    assert len(fake_openai.requests) == 3
    assert cli.query("select count(*) from attempts where outcome='retry'") == [(1,)]


def test_unconfigured_provider_is_refused_before_anything_runs(cli: Cli) -> None:
    result = cli.run("run", "--provider", "openai", "--prompt", "x")
    assert result.returncode == 2
    assert "IMAGEBATCH_OPENAI_API_KEY" in result.stderr


def test_impossible_parameters_are_refused(cli: Cli) -> None:
    cli.env["IMAGEBATCH_OPENAI_API_KEY"] = KEY
    result = cli.run("run", "--provider", "openai", "--prompt", "x", "--resolution", "4K")
    assert result.returncode == 2 and "no resolution 4K" in result.stderr
