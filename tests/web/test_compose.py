"""The composer in a real browser: a prompt-template batch, a folder of images to edit, and
a table imported from Excel, edited, exported and submitted; each batch is watched to the end.
Economy mode where the provider offers it, and a batch on the user's own key at no cost."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from PIL import Image
from playwright.sync_api import expect

from tests.web.conftest import MAX_IMAGE_BYTES, OWN_OPENAI_KEY, Browse, csrf, shot


def _png(path: Path, color: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 32), color).save(path, "PNG")


def _sheet(path: Path) -> Any:
    return load_workbook(io.BytesIO(Path(path).read_bytes())).worksheets[0]


def _finished(page: Any, tasks: int) -> None:
    expect(page.locator("#batch-status")).to_have_text("Completed", timeout=15_000)
    expect(page.locator("#count-succeeded")).to_have_text(str(tasks))
    expect(page.locator(".task-card img")).to_have_count(tasks)


def test_login_page_then_a_prompt_template_batch(web: Browse) -> None:
    page = web.page()
    page.goto("/compose")
    expect(page).to_have_url("/login?next=/compose")
    shot(page, "login")
    page.locator("#login-name").fill("alice")
    page.locator("#login-password").fill("web-test-password")
    page.keyboard.press("Enter")
    page.wait_for_url("**/compose")
    page.locator("body[data-ready]").wait_for()

    page.locator("#gen-prompt").fill("A {animal} in the {snow|rain}")
    values = page.get_by_label("Values of {animal}")
    values.fill("cat\ndog")
    expect(page.locator("#gen-preview-summary")).to_have_text("4 prompts × 1 = 4 images")
    expect(page.locator("#gen-preview-list li")).to_have_text(
        ["A cat in the snow", "A cat in the rain", "A dog in the snow", "A dog in the rain"]
    )
    page.locator("#gen-count").fill("2")
    expect(page.locator("#est-tasks")).to_have_text("8")
    expect(page.locator("#est-cost")).to_have_text("4 credits")
    shot(page, "compose-generate")
    page.get_by_role("button", name="Start batch").click()
    page.wait_for_url("**/batches/*")
    _finished(page, 8)
    expect(page.locator(".task-prompt").first).to_have_text("A cat in the snow")
    shot(page, "batch")


def test_a_folder_of_images_with_per_file_errors(web: Browse, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    _png(folder / "red.png", "red")
    _png(folder / "green.png", "green")
    _png(folder / "nested" / "red.png", "blue")  # same name in a sub-folder: kept apart
    (folder / "notes.txt").write_text("not an image")
    (folder / "huge.png").write_bytes(b"\x89PNG" + b"\0" * MAX_IMAGE_BYTES)
    page = web.login("alice")
    page.get_by_role("tab", name="Edit images").click()
    expect(page).to_have_url("/compose#edit")
    page.locator("#edit-folder").set_input_files(folder)
    expect(page.locator(".file-tile")).to_have_count(5)
    expect(page.locator("#edit-summary")).to_have_text(
        "3 images ready · 2 with problems (left out)"
    )
    expect(page.locator(".file-tile.has-error .file-error")).to_have_text(
        ["too large: 512 KB (limit 512 KB)", "not an image (text/plain)"], use_inner_text=True
    )
    page.locator("#edit-prompt").fill("make it watercolour")
    expect(page.locator("#est-tasks")).to_have_text("3")
    shot(page, "compose-edit")
    page.locator("#submit").click()
    page.wait_for_url("**/batches/*")
    _finished(page, 3)
    sources = page.locator(".task-prompt")
    expect(sources).to_have_count(3)


def test_an_excel_table_imported_edited_exported_and_run(web: Browse, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["提示词", "图片比例", "生成数量", "文件名"])
    sheet.append(["红色运动鞋，白底", "1:1", 2, "shoe"])
    sheet.append(["A ceramic mug on oak", "4:3", 1, "mug"])
    table = tmp_path / "tasks.xlsx"
    book.save(table)
    page = web.login("alice")
    page.get_by_role("tab", name="Table").click()
    page.locator("#table-file").set_input_files(table)
    expect(page.get_by_label("Prompt, row 1", exact=True)).to_have_value("红色运动鞋，白底")
    expect(page.get_by_label("Aspect ratio, row 2")).to_have_value("4:3")
    expect(page.locator("#table-summary")).to_have_text("2 rows · 3 images")

    page.get_by_role("button", name="Duplicate row 2").click()
    page.get_by_label("Prompt, row 3", exact=True).fill("A ceramic mug at night")
    page.get_by_label("File name, row 3").fill("mug-night")
    page.get_by_role("button", name="Add row").click()
    page.get_by_label("Prompt, row 4", exact=True).fill("to be deleted")
    page.get_by_role("button", name="Delete row 4").click()
    expect(page.locator("#table-body tr")).to_have_count(3)
    expect(page.locator("#est-tasks")).to_have_text("4")
    shot(page, "compose-table")

    with page.expect_download() as exported:
        page.get_by_role("button", name="Export grid (XLSX)").click()
    assert exported.value.suggested_filename == "imagebatch-table.xlsx"
    rows = list(_sheet(exported.value.path()).values)
    assert rows[0][:6] == (
        "prompt",
        "negative_prompt",
        "aspect_ratio",
        "resolution",
        "count",
        "filename",
    )
    assert [row[0] for row in rows[1:]] == [
        "红色运动鞋，白底",
        "A ceramic mug on oak",
        "A ceramic mug at night",
    ]
    assert rows[3][5] == "mug-night"
    with page.expect_download() as template:
        page.get_by_role("link", name="Download template").click()
    header = next(_sheet(template.value.path()).values)
    assert header[0] == "prompt"

    page.locator("#submit").click()
    page.wait_for_url("**/batches/*")
    _finished(page, 4)


def test_economy_where_the_provider_offers_it(web: Browse) -> None:
    page = web.login("alice")
    economy = page.get_by_label("Economy mode")
    expect(economy).to_be_disabled()  # the demo provider runs no batch jobs
    expect(page.locator("#opt-economy-hint")).to_contain_text(
        "Providers with economy mode: OpenAI GPT Image"
    )
    page.locator("#opt-provider").select_option("openai")
    expect(economy).to_be_enabled()
    expect(page.locator("#opt-economy-hint")).to_contain_text("50 % cheaper")
    page.locator("#gen-prompt").fill("a lighthouse at {dawn|dusk}")
    page.locator("#gen-count").fill("2")
    expect(page.locator("#est-cost")).to_have_text("1 credit")  # 4 images at 0.25
    expect(page.locator("#est-saving-row")).to_be_hidden()
    economy.check()
    expect(page.locator("#est-cost")).to_have_text("0.5 credits")
    expect(page.locator("#est-saving")).to_have_text("0.5 credits (50 %)")
    shot(page, "compose-economy")
    page.locator("#opt-provider").select_option("demo")
    expect(economy).not_to_be_checked()
    expect(page.locator("#est-cost")).to_have_text("2 credits")


def test_a_batch_on_your_own_key_costs_no_credits(web: Browse) -> None:
    page = web.login("erin")
    url = "/api/auth/provider-keys/openai"
    headers = {"X-CSRF-Token": csrf(page)}
    saved = page.request.put(url, data={"api_key": OWN_OPENAI_KEY}, headers=headers)
    assert saved.ok, saved.text()
    try:
        page.reload()
        page.locator("body[data-ready]").wait_for()
        page.locator("#opt-provider").select_option("openai")
        expect(page.locator("#own-key-note")).to_have_text(
            "This batch runs on your own OpenAI GPT Image key: OpenAI GPT Image bills you, "
            "it costs no credits here."
        )
        expect(page.get_by_label("Economy mode")).to_be_disabled()
        page.locator("#gen-prompt").fill("a quiet harbour")
        expect(page.locator("#est-tasks")).to_have_text("1")
        expect(page.locator("#est-cost")).to_have_text("0 credits")
        shot(page, "compose-own-key")
    finally:
        assert page.request.delete(url, headers=headers).ok
