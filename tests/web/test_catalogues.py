"""The message catalogues: both languages have the same keys and placeholders, and every
key the templates and scripts use exists (keys are always written out in full, so a
search of the source finds them all)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from imagebatch.web.i18n import LANGUAGES, choose_language, from_accept_language

WEB = Path(__file__).resolve().parents[2] / "src" / "imagebatch" / "web"
CATALOGUES = {
    lang: json.loads((WEB / "static" / "i18n" / f"{lang}.json").read_text()) for lang in LANGUAGES
}
SOURCES = [*(WEB / "templates").glob("*.html"), *(WEB / "static" / "js").rglob("*.js")]
CALL = re.compile(r"""\bt\(\s*["']([^"']+)["']""")
LITERAL = re.compile(r"""["']([a-z_]+\.[a-z0-9_.]+)["']""")


def _used() -> dict[str, str]:
    namespaces = {key.split(".")[0] for key in CATALOGUES["en"]}
    used: dict[str, str] = {}
    for source in SOURCES:
        text = source.read_text()
        for key in CALL.findall(text):
            used[key] = source.name
        for key in LITERAL.findall(text):
            if key.split(".")[0] in namespaces:
                used[key] = source.name
    return used


def test_both_languages_have_the_same_keys() -> None:
    assert set(CATALOGUES["en"]) == set(CATALOGUES["zh-CN"])


def test_translations_keep_their_placeholders() -> None:
    for key, english in CATALOGUES["en"].items():
        chinese = CATALOGUES["zh-CN"][key]
        assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", chinese)), key
        assert chinese.strip(), key


def test_every_key_used_exists() -> None:
    used = _used()
    assert len(used) > 300  # the scan finds the keys at all
    missing = {key: where for key, where in used.items() if key not in CATALOGUES["en"]}
    assert not missing


def test_no_key_is_left_unused() -> None:
    assert set(CATALOGUES["en"]) - set(_used()) == set()


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-TW", "zh-CN"),
        (None, "de-DE,en-GB;q=0.7,zh;q=0.5", "en"),
        (None, "fr, zh;q=0.9, en;q=0.1", "zh-CN"),
        (None, "", "en"),
        ("en", "zh-CN", "en"),
        ("xx", "zh-CN", "zh-CN"),
    ],
)
def test_language_from_cookie_then_browser(cookie: str | None, header: str, expected: str) -> None:
    assert choose_language(cookie, header) == expected


def test_unreadable_quality_counts_as_unwanted() -> None:
    assert from_accept_language("zh;q=abc") is None
