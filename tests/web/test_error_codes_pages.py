"""The pages say the server's errors from their codes (issue 15, part 2): a JSONL table with a
line that is not JSON and one that is not an object, refused by the live server, is explained
in Chinese row by row (from `issue.line_not_json` and the row in its params), the server's
words one click away; an English page shows the server's words themselves."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import Browse, shot


def _bad_lines(tmp_path: Path) -> Path:
    table = tmp_path / "任务.jsonl"
    table.write_text('{"prompt": "一只猫"}\n{prompt: 1}\n["一只狗"]\n', encoding="utf-8")
    return table


def test_a_refused_table_is_explained_in_chinese_from_the_codes(
    web: Browse, tmp_path: Path
) -> None:
    page = web.login("otto", locale="zh-CN")
    page.get_by_role("tab", name="表格").click()
    web.console.allow("status of 422")
    page.locator("#table-file").set_input_files(_bad_lines(tmp_path))
    issues = page.locator("#table-import-issues li")
    expect(issues.locator(".issue-text")).to_have_text(
        [
            "第 2 行：此行不是有效的 JSON：每行应为一个对象。",
            "第 3 行：此行不是 JSON 对象：每行应为一个对象。",
        ]
    )
    first = issues.first.locator("details")
    expect(first.locator("span")).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator("span")).to_contain_text("line 2: is not JSON")
    shot(page, "compose-table-codes-zh")


def test_an_english_page_shows_the_servers_words(web: Browse, tmp_path: Path) -> None:
    page = web.login("otto")
    page.get_by_role("tab", name="Table").click()
    web.console.allow("status of 422")
    page.locator("#table-file").set_input_files(_bad_lines(tmp_path))
    issues = page.locator("#table-import-issues li")
    expect(issues).to_have_count(2)
    expect(issues.first).to_contain_text("line 2: is not JSON")
    expect(issues.nth(1)).to_have_text('line 3: is not a JSON object (e.g. {"prompt": "…"})')
    expect(page.locator("#table-import-issues details")).to_have_count(0)
