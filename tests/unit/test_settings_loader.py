"""Settings mistakes are one line each: the variable, what is wrong, an example."""

from __future__ import annotations

import pytest

from imagebatch.errors import ConfigurationError
from imagebatch.settings_loader import load_settings


def test_every_wrong_setting_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBATCH_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("IMAGEBATCH_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("IMAGEBATCH_SECURE_COOKIES", "maybe")
    monkeypatch.setenv("IMAGEBATCH_OPENAI_BASE_URL", "api.openai.com/v1")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    lines = refused.value.message.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "IMAGEBATCH_MAX_ATTEMPTS",
        "IMAGEBATCH_OPENAI_BASE_URL",
        "IMAGEBATCH_SECURE_COOKIES",
    ]
    assert "(e.g. IMAGEBATCH_MAX_ATTEMPTS=3)" in lines[0]
    assert "is not an http(s) URL with a host" in lines[1]
    assert "(e.g. IMAGEBATCH_OPENAI_BASE_URL=https://api.openai.com/v1)" in lines[1]


def test_good_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBATCH_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("IMAGEBATCH_COMFYUI_BASE_URL", "http://127.0.0.1:8188, http://gpu:8189")
    assert load_settings().provider_concurrency["comfyui"] == 2
