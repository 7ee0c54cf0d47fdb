"""The deployment files name only settings that exist, and the image runs what the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

from imagebatch.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_sets_only_real_settings() -> None:
    text = (ROOT / "compose.yaml").read_text()
    names = set(re.findall(r"^\s+(IMAGEBATCH_[A-Z0-9_]+):", text, re.MULTILINE))
    known = {f"IMAGEBATCH_{field.upper()}" for field in Settings.model_fields}
    assert names, "compose.yaml sets no IMAGEBATCH_ variables"
    assert names <= known, names - known


def test_compose_runs_the_api_without_workers_and_separate_workers() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert '"serve", "--host", "0.0.0.0", "--port", "8000", "--no-workers"' in text
    assert '["imagebatch", "worker"]' in text


def test_dockerfile_installs_the_package_and_runs_serve() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in text and "USER imagebatch" in text
    assert 'CMD ["imagebatch", "serve"' in text
