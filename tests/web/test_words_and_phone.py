"""Small words and phone layouts (issue 15, part 1): plurals instead of "(s)", hints that
hold on a phone, the users table at phone width, the table template's reference note, and
/docs working offline under the strict CSP."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlparse

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from imagebatch.domain.sheet_files import template_workbook
from tests.web.conftest import Browse, shot

PHONE = {"width": 390, "height": 844}


def _one_line(locator: Any) -> bool:
    """Whether the element's text sits on one line (not one character per line)."""
    script = "e => { const r = document.createRange(); r.selectNodeContents(e);"
    script += " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
    lines: int = locator.evaluate(script)
    return lines == 1


@pytest.mark.parametrize(("locale", "role"), [("zh-CN", "普通用户"), ("en-US", "User")])
def test_users_table_reads_on_a_phone(web: Browse, locale: str, role: str) -> None:
    page = web.login("judy", locale=locale, **PHONE)
    page.goto("/admin/users")
    row = page.locator("#users-body tr[data-name='alice']")
    cell = row.locator("td").nth(1)
    expect(cell).to_have_text(role)
    assert _one_line(cell)
    for button in row.locator(".row-actions button").all():  # all reachable, none off-screen
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, f"phone-admin-users-{locale}")
    desktop = web.login("judy", locale=locale)
    desktop.goto("/admin/users")
    expect(desktop.locator("#users-body tr[data-name='alice'] td").nth(1)).to_have_text(role)
    shot(desktop, f"admin-users-{locale}")


@pytest.mark.parametrize(("locale", "heading"), [("zh-CN", "参数设置"), ("en-US", "Settings")])
def test_table_hint_names_the_settings_instead_of_a_side(
    web: Browse, locale: str, heading: str
) -> None:
    page = web.login("judy", locale=locale, **PHONE)
    page.goto("/compose#table")
    hint = page.locator("#panel-table .hint").first
    expect(hint).to_contain_text(heading)
    expect(hint).not_to_contain_text("右侧")
    expect(hint).not_to_contain_text("right")
    settings = page.get_by_role("heading", name=heading, exact=True)
    hint_box, settings_box = hint.bounding_box(), settings.bounding_box()
    assert hint_box and settings_box and settings_box["y"] > hint_box["y"]  # below, on a phone
    shot(page, f"phone-compose-table-hint-{locale}")


def _reference_note(book_bytes: bytes) -> str:
    book = load_workbook(io.BytesIO(book_bytes))
    notes = book.worksheets[1]
    return next(str(r[1]) for r in notes.iter_rows(values_only=True) if "参考图" in str(r[0]))


def test_the_downloaded_template_speaks_of_the_library_not_paths(web: Browse) -> None:
    page = web.login("judy", locale="zh-CN")
    page.goto("/compose#table")
    for lang, library, path in (("zh", "图库", "路径"), ("en", "library", "path")):
        answer = page.request.get(f"/api/tables/template?lang={lang}")
        assert answer.status == 200
        note = _reference_note(answer.body())
        assert library in note and path not in note, note
    # the CLI's template is read beside its files: there, paths are what a cell names
    assert "path" in _reference_note(template_workbook("en", local_files=True))


def test_counts_read_naturally_in_both_languages(web: Browse) -> None:
    page = web.login("judy")
    page.locator("#gen-prompt").fill("a lighthouse")
    page.locator("#gen-count").fill("2") if page.locator("#gen-count").count() else None
    expect(page.locator("#gen-preview-summary")).to_contain_text("1 prompt ×")
    plural = "async () => { const m = await import('/static/js/lib/i18n.js'); return ["
    plural += "m.t('table.summary', {rows: '1', tasks: '1,234'}),"
    plural += "m.t('estimate.credits', {n: '1'}), m.t('estimate.credits', {n: '0.5'}),"
    plural += "m.t('nav.credits_value', {credits: '1,000'}), m.t('economy.unsupported_none'),"
    plural += "m.formatList(['openai', 'gemini'])]; }"
    assert page.evaluate(plural) == [
        "1 row · 1,234 images",
        "1 credit",
        "0.5 credits",
        "1,000 credits",
        "Not offered by this provider, and no provider here offers economy mode yet.",
        "openai and gemini",
    ]
    zh = web.login("judy", locale="zh-CN")
    assert zh.evaluate(plural) == [
        "1 行 · 1,234 张图",
        "1 积分",
        "0.5 积分",
        "1,000 积分",
        "此服务商不支持；目前没有服务商支持经济模式。",
        "openai和gemini",
    ]
    shot(page, "compose-counts-en")


@pytest.mark.parametrize(
    ("locale", "expected"), [("zh-CN", "原因列在按钮下方。"), ("en-US", "buttons.")]
)
def test_a_failed_import_toast_ends_as_a_sentence(web: Browse, locale: str, expected: str) -> None:
    page = web.login("judy", locale=locale)
    page.goto("/compose#table")
    web.console.allow("422")  # the refused import, as the browser logs it
    page.locator("#table-file").set_input_files(
        files=[
            {
                "name": "broken.xlsx",
                "mimeType": "application/octet-stream",
                "buffer": b"not a workbook",
            }
        ]
    )
    toast = page.locator(".toast").last
    expect(toast).to_contain_text(expected)
    assert not toast.inner_text().rstrip().endswith((":", "："))
    expect(page.locator("#table-import-issues")).to_be_visible()
    shot(page, f"compose-import-failed-{locale}")


@pytest.mark.parametrize("size", [{"width": 1280, "height": 900}, PHONE])
def test_docs_render_offline_under_the_strict_csp(web: Browse, size: dict[str, int]) -> None:
    page = web.page(**size)
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlparse(route.request.url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_loopback)
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    answer = page.goto("/docs")
    assert answer is not None and answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.locator(".opblock-summary-path[data-path='/api/batches']").first).to_be_visible()
    assert outside == [] and violations == []
    shot(page, f"docs-offline-{size['width']}")
