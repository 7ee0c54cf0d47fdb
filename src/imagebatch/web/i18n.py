"""Message catalogues (one JSON file per language, shared by templates and scripts) and
choosing the language: the `ib_lang` cookie, else the browser's Accept-Language."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

CATALOGUE_DIR = Path(__file__).parent / "static" / "i18n"
LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "ib_lang"


@cache
def catalogue(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUE_DIR / f"{language}.json").read_text("utf-8"))
    return data


def translate(language: str, key: str, **values: object) -> str:
    """The message for `key`, with {name} placeholders filled; the key itself if missing
    (a test makes sure none is)."""
    text = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def supported(code: str | None) -> str | None:
    """Our language for a code like `zh`, `zh-cn`, `zh-Hans-CN`, `en-GB`; None if unknown."""
    if not code:
        return None
    primary = code.strip().lower().split("-")[0]
    for language in LANGUAGES:
        if language.lower().split("-")[0] == primary:
            return language
    return None


def from_accept_language(header: str) -> str | None:
    """The first supported language in the header's preference order (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, code))
    for quality, _, code in sorted(ranked):
        if quality < 0 and (language := supported(code)):
            return language
    return None


def choose_language(cookie: str | None, accept_language: str) -> str:
    if cookie in LANGUAGES:
        return cookie
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE
