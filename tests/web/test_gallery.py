"""The gallery in a real browser: pictures keep their shape (a 16:9 batch wide, a 9:16 batch
tall) and are the biggest thing on the page; selection by click, shift-click and keyboard;
bulk ZIP, delete, retry and re-edit; deleting a finished batch from the list."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Browse, create_batch, shot

USER = "mona"


def _finished(page: Any, batch_id: int, pictures: int) -> None:
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#task-grid .gallery-tile img")).to_have_count(pictures, timeout=15_000)
    expect(page.locator("#act-delete")).to_be_visible(timeout=15_000)


def _tile_box(page: Any) -> dict[str, float]:
    box: dict[str, float] = page.locator("#task-grid .gallery-tile img").first.bounding_box()
    return box


def test_wide_and_tall_batches_give_wide_and_tall_tiles(web: Browse) -> None:
    page = web.login(USER)
    wide = create_batch(page, {"prompt": "A {cat|dog|owl}", "aspect_ratio": "16:9"})
    many = "|".join(f"animal {n}" for n in range(20))
    tall = create_batch(page, {"prompt": f"A {{{many}}}", "aspect_ratio": "9:16"})
    _finished(page, wide, 3)
    box = _tile_box(page)
    assert box["width"] / box["height"] > 1.6, box
    shot(page, "gallery-batch-wide")
    _finished(page, tall, 20)
    box = _tile_box(page)
    assert box["height"] / box["width"] > 1.6, box
    # the pictures are the page: the grid is the largest block below the top bar
    grid = page.locator("#task-grid").bounding_box()
    top = page.locator(".topbar").bounding_box()["height"]
    shown = min(900, grid["y"] + grid["height"]) - max(top, grid["y"])
    assert grid["width"] * shown > 0.5 * 1280 * (900 - top), grid
    shot(page, "gallery-batch-tall")


def test_shift_click_keyboard_and_zip_of_the_selection(web: Browse) -> None:
    page = web.login(USER)
    batch_id = create_batch(page, {"prompt": "A {a|b|c|d|e|f}"})
    _finished(page, batch_id, 6)
    checks = page.locator("#task-grid .tile-check")
    checks.nth(1).click()
    checks.nth(4).click(modifiers=["Shift"])
    expect(page.locator("#sel-count")).to_have_text("4 selected")
    expect(page.locator("#task-grid .gallery-tile.selected")).to_have_count(4)
    page.keyboard.press("Escape")
    expect(page.locator("#sel-count")).to_have_text("Nothing selected")

    thumbs = page.locator("#task-grid .gallery-thumb")
    thumbs.first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    expect(thumbs.nth(1)).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#sel-count")).to_have_text("2 selected")
    page.keyboard.press("Enter")  # opens, whatever is selected
    expect(page.get_by_role("dialog", name="Image details")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+a")
    expect(page.locator("#sel-count")).to_have_text("6 selected")
    shot(page, "gallery-selection")
    with page.expect_download() as download:
        page.locator("#sel-zip").click()
    archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
    pictures = [name for name in archive.namelist() if name != "manifest.csv"]
    assert len(pictures) == 6, archive.namelist()


def test_retry_and_re_edit_of_a_selection(web: Browse) -> None:
    page = web.login(USER, locale="zh-CN")
    batch_id = create_batch(
        page, {"prompt": "a {x|y|z [demo:reject]|w [demo:reject]}", "name": "mixed"}
    )
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#count-failed")).to_have_text("2", timeout=15_000)
    failed = page.locator("#task-grid .gallery-tile.status-failed .tile-check")
    failed.first.click()
    failed.last.click(modifiers=["Shift"])
    expect(page.locator("#sel-count")).to_have_text("已选 2 项")
    page.locator("#sel-retry").click()
    expect(page.get_by_text("2 个任务已重新排队。")).to_be_visible()
    expect(page.locator("#count-failed")).to_have_text("2", timeout=15_000)  # they fail again

    page.locator("#task-grid .gallery-tile.status-succeeded .tile-check").first.click()
    page.locator("#task-grid .gallery-tile.status-succeeded .tile-check").last.click()
    page.locator("#sel-edit").click()
    dialog = page.get_by_role("dialog", name="用新提示词修改 2 张图片")
    dialog.locator("textarea").fill("in watercolour")
    shot(page, "gallery-re-edit-zh")
    dialog.get_by_role("button", name="创建批次").click()
    page.wait_for_url(f"**/batches/{batch_id + 1}")
    expect(page.locator("#task-grid .gallery-tile img")).to_have_count(2, timeout=15_000)
    expect(page.locator("#task-grid .task-prompt").first).to_have_text("in watercolour")
    expect(page.locator("#count-total")).to_have_text("2")


def test_history_filters_and_bulk_delete(web: Browse) -> None:
    page = web.login(USER)
    batch_id = create_batch(page, {"prompt": "H {a|b|c|d}", "name": "to prune"})
    _finished(page, batch_id, 4)
    page.goto(f"/history?batch={batch_id}")
    tiles = page.locator("#history-grid .gallery-tile")
    expect(tiles).to_have_count(4)
    expect(page.locator("#filter-batch")).to_have_value(str(batch_id))
    page.locator("#filter-status").select_option("failed")
    expect(tiles).to_have_count(0)
    page.locator("#filter-status").select_option("")
    expect(tiles).to_have_count(4)
    tiles.locator(".tile-check").first.click()
    tiles.locator(".tile-check").nth(2).click(modifiers=["Shift"])
    shot(page, "gallery-history")
    page.locator("#sel-delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("3 items deleted.")).to_be_visible()
    expect(tiles).to_have_count(1)
    phone = web.login(USER, locale="zh-CN", width=390, height=844)
    phone.goto(f"/history?batch={batch_id}")
    expect(phone.locator("#history-grid .gallery-tile")).to_have_count(1)
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(phone, "gallery-history-phone-zh")


def test_a_finished_batch_is_deleted_from_the_list(web: Browse) -> None:
    page = web.login(USER, locale="zh-CN")
    batch_id = create_batch(page, {"prompt": "gone soon", "name": "doomed"})
    _finished(page, batch_id, 1)
    page.goto("/batches")
    row = page.locator(f'#batches-body tr[data-id="{batch_id}"]')
    row.get_by_role("button", name="删除批次 doomed").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="取消").click()
    expect(row).to_be_visible()  # asked first; nothing happened
    row.get_by_role("button", name="删除批次 doomed").click()
    dialog.get_by_role("button", name="删除批次").click()
    expect(row).to_have_count(0)
    assert page.request.get(f"/api/batches/{batch_id}").status == 404
    shot(page, "gallery-batches-after-delete-zh")
