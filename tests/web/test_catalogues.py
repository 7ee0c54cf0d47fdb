"""The message catalogues: both languages have the same keys and placeholders, and every
key the templates and scripts use exists (keys are always written out in full, so a
search of the source finds them all)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from imagebatch.web.i18n import LANGUAGES, choose_language, from_accept_language
from tests.api.raised_codes import catalogue_keys, raised_codes

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


#: ICU's plural argument as lib/i18n.js reads it: "{n, plural, one {# credit} other {# credits}}"
PLURAL = re.compile(
    r"\{(\w+), plural,((?:\s*(?:=\d+|zero|one|two|few|many|other)\s*\{[^{}]*\})+)\s*\}"
)


def _placeholders(message: str) -> set[str]:
    """The values a message takes: a plural argument counts as its {name}."""
    return set(re.findall(r"\{\w+\}", PLURAL.sub(r"{\1}", message)))


def test_translations_keep_their_placeholders() -> None:
    for key, english in CATALOGUES["en"].items():
        chinese = CATALOGUES["zh-CN"][key]
        assert _placeholders(english) == _placeholders(chinese), key
        assert chinese.strip(), key


def test_plural_forms_are_whole() -> None:
    """Every plural argument parses (no stray "plural," left) and has an `other` form; no
    English message hedges with "(s)" any more."""
    for lang, messages in CATALOGUES.items():
        for key, message in messages.items():
            for match in PLURAL.finditer(message):
                assert re.search(r"\bother\s*\{", match.group(2)), (lang, key)
            assert ", plural," not in PLURAL.sub("", message), (lang, key)
    hedged = [k for k, m in CATALOGUES["en"].items() if re.search(r"(?<!http)\(s\)", m)]
    assert hedged == []


def test_every_key_used_exists() -> None:
    used = _used()
    assert len(used) > 300  # the scan finds the keys at all
    missing = {key: where for key, where in used.items() if key not in CATALOGUES["en"]}
    assert not missing


def test_no_key_is_left_unused() -> None:
    # lib/messages.js looks the server's codes up by name: issue.<code>, error.<code>…
    by_code = {key for code in raised_codes() for key in catalogue_keys(code)}
    assert set(CATALOGUES["en"]) - set(_used()) - by_code == set()


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
