"""`imagebatch run --provider NAME` against each provider's fake, as docs/providers.md shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image

from tests.acceptance.conftest import Cli
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.gemini import FakeGemini, resource_exhausted
from tests.fakes.jimeng import FakeJimeng
from tests.fakes.openai_images import FakeOpenAI, rate_limited
from tests.fakes.seedream import FakeSeedream, expired

# Each test starts several real `imagebatch` processes (about a second each to import).
pytestmark = pytest.mark.timeout(120)

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


def test_a_transparent_jpeg_is_refused_before_anything_runs(cli: Cli) -> None:
    cli.env["IMAGEBATCH_OPENAI_API_KEY"] = KEY
    result = cli.run(
        "run", "--provider", "openai", "--prompt", "x",
        "--param", "background=transparent", "--param", "output_format=jpeg",
    )  # fmt: skip
    assert result.returncode == 2
    assert "refuses background=transparent with output_format=jpeg" in result.stderr


def test_run_with_openai_compatible_answering_links(cli: Cli, fake_openai: FakeOpenAI) -> None:
    fake_openai.links_by_default = True  # as DALL·E and LocalAI answer
    cli.env |= {
        "IMAGEBATCH_OPENAI_COMPATIBLE_API_KEY": KEY,
        "IMAGEBATCH_OPENAI_COMPATIBLE_BASE_URL": fake_openai.base_url,
        "IMAGEBATCH_OPENAI_COMPATIBLE_MODEL": "sd-xl",
        "IMAGEBATCH_ALLOW_PRIVATE_URLS": "1",  # the fake's links point to 127.0.0.1
    }
    result = cli.run(
        "run", "--provider", "openai-compatible", "--prompt", "a {red|blue} mug",
        "--param", "response_format=url", "--out", "mugs",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((cli.cwd / "mugs").glob("*.png"))) == 2
    posts = [r for r in fake_openai.requests if r.method == "POST"]
    assert len(posts) == 2 and all(r.json()["response_format"] == "url" for r in posts)


def test_run_with_gemini(cli: Cli) -> None:
    with FakeGemini("gemini-cli-key-5678") as fake:
        cli.env |= {
            "IMAGEBATCH_GEMINI_API_KEY": "gemini-cli-key-5678",
            "IMAGEBATCH_GEMINI_BASE_URL": fake.url,
            "IMAGEBATCH_RETRY_BASE_DELAY": "0",
        }
        fake.fail_next(resource_exhausted("0.01s"))
        table = cli.cwd / "t.csv"
        table.write_text("prompt,aspect_ratio,resolution,filename\nbanana,16:9,2K,b\n", "utf-8")
        result = cli.run(
            "run",
            str(table),
            "--provider",
            "gemini",
            "--model",
            "gemini-3-pro-image-preview",
            "--out",
            "g",
        )
        assert result.returncode == 0, result.stderr
        assert len(fake.requests) == 2
    with Image.open(cli.cwd / "g" / "b.png") as image:
        assert image.size == (2048, 1152)


def test_run_with_seedream(cli: Cli) -> None:
    with FakeSeedream("ark-cli-key-1111") as fake:
        cli.env |= {
            "IMAGEBATCH_SEEDREAM_API_KEY": "ark-cli-key-1111",
            "IMAGEBATCH_SEEDREAM_BASE_URL": fake.url,
        }
        result = cli.run(
            "run",
            "--provider",
            "seedream",
            "--prompt",
            "a {cat|dog} plush",
            "--aspect-ratio",
            "4:3",
            "--resolution",
            "2k",
            "--out",
            "s",
        )
        assert result.returncode == 0, result.stderr
    assert len(list((cli.cwd / "s").glob("*.jpg"))) == 2


def test_run_with_seedream_result_urls(cli: Cli) -> None:
    with FakeSeedream("ark-cli-key-2222") as fake:
        cli.env |= {
            "IMAGEBATCH_SEEDREAM_API_KEY": "ark-cli-key-2222",
            "IMAGEBATCH_SEEDREAM_BASE_URL": fake.url,
            "IMAGEBATCH_ALLOW_PRIVATE_URLS": "1",  # the fake's links point at 127.0.0.1
            "IMAGEBATCH_RETRY_BASE_DELAY": "0",
        }
        fake.fail_next_download(expired())  # the first link has expired: generated again
        result = cli.run(
            "run",
            "--provider",
            "seedream",
            "--prompt",
            "a red kite",
            "--param",
            "response_format=url",
            "--out",
            "u",
        )
        assert result.returncode == 0, result.stderr
        calls = [r for r in fake.requests if fake.metered(r)]
        assert [r.json()["response_format"] for r in calls] == ["url", "url"]
        assert len(fake.downloads) == 2
    [output] = (cli.cwd / "u").glob("*.jpg")
    assert output.read_bytes().startswith(b"\xff\xd8")
    assert cli.query("select error_kind from attempts where outcome='retry'") == [
        ("ProviderUnavailable",)
    ]


def test_providers_lists_configuration(cli: Cli) -> None:
    cli.env["IMAGEBATCH_GEMINI_API_KEY"] = "k1,k2"
    result = cli.run("providers")
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "2 keys" in lines["gemini"] and "no key" in lines["openai"]


def test_run_with_comfyui(cli: Cli) -> None:
    with FakeComfyUI() as fake:
        cli.env["IMAGEBATCH_COMFYUI_BASE_URL"] = fake.url
        result = cli.run(
            "run",
            "--provider",
            "comfyui",
            "--prompt",
            "castle",
            "--count",
            "2",
            "--negative-prompt",
            "people",
            "--out",
            "c",
        )
        assert result.returncode == 0, result.stderr
        seeds = {g["3"]["inputs"]["seed"] for g in fake.graphs.values()}
    assert len(seeds) == 2 and len(list((cli.cwd / "c").glob("*.png"))) == 2


def test_run_with_jimeng(cli: Cli) -> None:
    with FakeJimeng("AKLTcli", "cli-secret", polls=1) as fake:
        cli.env |= {
            "IMAGEBATCH_JIMENG_API_KEY": "AKLTcli:cli-secret",
            "IMAGEBATCH_JIMENG_BASE_URL": fake.url,
        }
        result = cli.run("run", "--provider", "jimeng", "--prompt", "演唱会现场", "--out", "j")
        assert result.returncode == 0, result.stderr
    assert len(list((cli.cwd / "j").glob("*.jpg"))) == 1


def test_dry_run_prices_without_enqueueing(cli: Cli) -> None:
    cli.env |= {
        "IMAGEBATCH_OPENAI_API_KEY": KEY,
        "IMAGEBATCH_PRICES": '{"openai/gpt-image-1": 0.25}',
    }
    result = cli.run(
        "run",
        "--provider",
        "openai",
        "--prompt",
        "a {x}",
        "--var",
        "x=1,2,3",
        "--count",
        "2",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert "6 task(s) are valid. Estimated cost: 1.5 (6 × openai/gpt-image-1 at 0.25)" in " ".join(
        result.stdout.split()
    )
    assert not (cli.cwd / "imagebatch-data" / "imagebatch.db").exists() or cli.query(
        "select count(*) from tasks"
    ) == [(0,)]


def test_run_economy_with_openai_survives_a_kill(cli: Cli, fake_openai: FakeOpenAI) -> None:
    cli.env |= {
        "IMAGEBATCH_OPENAI_API_KEY": KEY,
        "IMAGEBATCH_OPENAI_BASE_URL": fake_openai.base_url,
        "IMAGEBATCH_ECONOMY_POLL_SECONDS": "0.05",
    }
    fake_openai.batches.polls_to_finish = None  # the job runs until the test finishes it
    command = ("run", "--economy", "--provider", "openai", "--prompt", "a {red|blue} mug")
    dry = cli.run(*command, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    said = " ".join(dry.stdout.split())  # the console wraps long lines
    assert "−50% batch discount" in said and "economy mode saves 0.042" in said
    first = cli.start(*command, "--out", "mugs")
    cli.wait_for(lambda: cli.query("select status from provider_jobs") == [("running",)])
    first.kill()
    first.wait()
    fake_openai.batches.finish_jobs()
    result = cli.run(*command, "--out", "mugs")  # the same command again: resumed
    assert result.returncode == 0, result.stderr
    assert "Resuming batch" in result.stdout
    assert len(list((cli.cwd / "mugs").glob("*.png"))) == 2
    assert len(fake_openai.batches.created) == 1  # taken over, not submitted twice
    assert not [r for r in fake_openai.requests if r.path.startswith("/v1/images")]
    assert cli.query("select status, economy from batches") == [("completed", 1)]
