"""The composer's defects of issue 15, in a real browser: a brace edit keeps the values of
its variable; a fake image is refused (and named, in the page's language) before it is
counted; a bad table cell is marked, scrolled to and left out of the footer's counts."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from playwright.sync_api import expect

from tests.web.conftest import Browse, shot

USER = "ivan"
NOT_AN_IMAGE = b"just some text, not a picture\n"
TABLE = b"prompt,count\nfine,2\ntoo many,20\nalso fine,1\n"
PHONE = {"width": 390, "height": 844}


def _png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(buffer, "PNG")
    return buffer.getvalue()


def _files(*names_and_bytes: tuple[str, bytes]) -> list[dict[str, Any]]:
    return [{"name": n, "mimeType": "image/png", "buffer": b} for n, b in names_and_bytes]


def test_a_brace_edit_keeps_the_values_and_a_rename_takes_them_along(web: Browse) -> None:
    page = web.login(USER, locale="zh-CN")
    prompt = page.locator("#gen-prompt")
    prompt.fill("a {animal} in {snow|rain}")
    page.get_by_label("{animal} 的取值").fill("cat\ndog\nfox")
    summary = page.locator("#gen-preview-summary")
    expect(summary).to_have_text("6 条提示词 × 1 = 6 张图")

    prompt.press("End")
    for _ in " in {snow|rain}":
        prompt.press("ArrowLeft")
    prompt.press("Backspace")  # the } after animal: for a moment there is no {animal}
    expect(prompt).to_have_value("a {animal in {snow|rain}")
    expect(page.locator("#gen-variables textarea")).to_have_count(0)
    page.keyboard.type("}")
    expect(page.get_by_label("{animal} 的取值")).to_have_value("cat\ndog\nfox")
    expect(summary).to_have_text("6 条提示词 × 1 = 6 张图")

    prompt.press("ArrowLeft")
    page.keyboard.type("s")  # {animal} → {animals}: the one variable renamed in place
    expect(prompt).to_have_value("a {animals} in {snow|rain}")
    expect(page.get_by_label("{animals} 的取值")).to_have_value("cat\ndog\nfox")
    expect(summary).to_have_text("6 条提示词 × 1 = 6 张图")
    shot(page, "compose-brace-edit-zh")


def test_a_fake_image_is_refused_before_it_is_counted(web: Browse) -> None:
    web.console.allow("status of 422")  # the check of a lone fake file: none usable
    page = web.login(USER, locale="zh-CN")
    page.get_by_role("tab", name="批量改图").click()
    files = _files(("red.png", _png("red")), ("blue.png", _png("blue")), ("fake.png", NOT_AN_IMAGE))
    page.locator("#edit-files").set_input_files(files)
    bad = page.locator(".file-tile.has-error")
    expect(bad).to_have_count(1)
    expect(bad.locator(".file-name")).to_have_text("fake.png")
    expect(bad.locator(".file-error")).to_contain_text("不是可用的图片")
    expect(bad.locator("img")).to_have_count(0)  # no broken thumbnail
    expect(page.locator("#edit-summary")).to_have_text("2 张可用 · 1 张有问题（不会提交）")
    page.locator("#edit-prompt").fill("水彩风格")
    expect(page.locator("#est-tasks")).to_have_text("2")
    expect(page.locator("#est-cost")).to_have_text("1 积分")
    shot(page, "compose-edit-fake-zh")

    english = web.login(USER)
    english.get_by_role("tab", name="Edit images").click()
    english.locator("#edit-files").set_input_files(files[2:])
    only = english.locator(".file-tile.has-error .file-error")
    expect(only).to_have_text("is a text file, not an image")
    english.locator("#edit-files").set_input_files(files[:2])
    english.locator("#edit-prompt").fill("watercolour")
    expect(english.locator("#est-tasks")).to_have_text("2")
    english.locator("#submit").click()
    english.wait_for_url("**/batches/*")
    expect(english.locator("#batch-name")).to_have_text("2 images")


def test_an_import_with_a_bad_row_keeps_the_good_rows_and_marks_the_cell(web: Browse) -> None:
    web.console.allow("status of 422")  # the estimate's dry run of a grid with a bad cell
    page = web.login(USER, locale="zh-CN", **PHONE)
    page.get_by_role("tab", name="表格").click()
    page.locator("#table-file").set_input_files(
        {"name": "tasks.csv", "mimeType": "text/csv", "buffer": TABLE}
    )
    expect(page.locator("#table-body tr")).to_have_count(3)
    bad = page.locator("#table-body tr").nth(1).locator('td[data-key="count"]')
    expect(bad).to_have_class("cell-bad")
    expect(bad.locator(".cell-error")).to_have_text(
        "第 2 行“生成数量”列：数量 20 超出范围，请填 1 到 10。"
    )
    expect(bad).to_be_in_viewport()
    expect(page.locator("#table-body td.cell-bad")).to_have_count(1)
    footer = page.locator("#table-summary")
    expect(footer).to_have_text("2 行 · 3 张图 · 1 行需要修改（未计入）")
    expect(page.locator("#est-tasks")).to_have_text("–")
    shot(page, "compose-table-bad-cell-zh-phone")

    bad.locator("input").fill("3")
    expect(page.locator("#table-body td.cell-bad")).to_have_count(0)
    expect(footer).to_have_text("3 行 · 6 张图")
    expect(page.locator("#est-tasks")).to_have_text("6")


def test_a_typed_bad_cell_stops_the_submit_and_gets_the_focus(web: Browse) -> None:
    web.console.allow("status of 422")
    page = web.login(USER)
    page.get_by_role("tab", name="Table").click()
    page.get_by_label("Prompt, row 1", exact=True).fill("a kite")
    page.get_by_label("Count, row 1").fill("20")
    cell = page.locator('#table-body td[data-key="count"]')
    expect(cell).to_have_class("cell-bad")
    expect(cell.locator(".cell-error")).to_have_text("count 20 is out of range; use 1 to 10")
    expect(page.locator("#table-summary")).to_have_text(
        "0 rows · 0 images · 1 row to fix (not counted)"
    )
    page.get_by_label("Prompt, row 1", exact=True).focus()
    page.locator("#submit").click()
    expect(page.locator(".toast").last).to_have_text("1 row needs fixing: see the marked cells.")
    expect(page.get_by_label("Count, row 1")).to_be_focused()
    expect(page).to_have_url("/compose#table")
    shot(page, "compose-table-bad-cell-en")
