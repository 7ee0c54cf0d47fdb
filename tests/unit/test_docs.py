"""The documentation keeps up: every setting is in docs/configuration.md, every link lands."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from imagebatch.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a variable's own row in a table: | `IMAGEBATCH_NAME` | default | meaning |
DOCUMENTED_VARIABLE = re.compile(r"^\| `(IMAGEBATCH_[A-Z0-9_]+)` \|", re.MULTILINE)
NOT_IN_A_SLUG = re.compile(r"[^\w\- ]")
MARKDOWN = MarkdownIt("commonmark").enable("table")


def tokens(page: Path) -> list[Token]:
    """Block tokens and, flattened after each inline one, its children."""
    flat: list[Token] = []
    for token in MARKDOWN.parse(page.read_text(encoding="utf-8")):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives the page's headings (lower case, punctuation dropped, - for space)."""
    found: set[str] = set()
    for opening, inline in pairwise(tokens(page)):
        if opening.type == "heading_open":
            text = "".join(child.content for child in inline.children or [])
            found.add(NOT_IN_A_SLUG.sub("", text.strip().lower()).replace(" ", "-"))
    return found


def relative_links(page: Path) -> list[str]:
    hrefs = [str(t.attrs["href"]) for t in tokens(page) if t.type == "link_open"]
    return [href for href in hrefs if not re.match(r"[a-z]+:", href)]


def settings_variables() -> set[str]:
    return {f"IMAGEBATCH_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_has_its_own_row_in_the_configuration_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(DOCUMENTED_VARIABLE.findall(page))
    assert sorted(settings_variables() - documented) == []
    assert sorted(documented - settings_variables()) == [], "documented, but no such setting"


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    broken = []
    for href in relative_links(page):
        path, _, fragment = href.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{href}: no file {target.relative_to(ROOT)}")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{href}: no heading #{fragment} in {target.relative_to(ROOT)}")
    assert broken == []


def test_the_link_check_sees_links_and_headings() -> None:
    """Guards the two tests above against passing because the parser found nothing."""
    assert "key-pools-and-per-key-limits" in anchors(ROOT / "docs" / "providers.md")
    assert "docs/configuration.md" in relative_links(ROOT / "README.md")
