"""A cancelled batch in a real browser: the cancel asks first, and then cancelled is its own
count, colour, filter and status on the batch page, the batches list and the admin monitor;
it is never "completed N / N", and the cancel does not show up as speed. Also: keyboard
focus on a thumbnail shows a ring, and a taken user name says so (not a batch message)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.conftest import Browse, Console, LiveServer, create_batch, shot

#: two pictures, one refusal, two that never end: cancelled at 3 / 5 with 2 cancelled
MIXED = {
    "prompt": "a {animal}",
    "variables": {
        "animal": ["cat", "dog", "owl [demo:reject]", "yak [demo:hang]", "emu [demo:hang]"]
    },
    "name": "to be cancelled",
}
ZH_TEXT = "成功 2 / 5 · 失败 1 · 已取消 2"
EN_TEXT = "2 / 5 succeeded · 1 failed · 2 cancelled"
ACCENT = (79, 70, 229)  # --accent in the light scheme


@pytest.fixture(scope="module")
def cancelled_batch(browser: Any, live: LiveServer) -> dict[str, Any]:
    """Kate's MIXED batch, cancelled from its page in Chinese (the confirmation included)."""
    harness = Browse(browser, live, Console())
    try:
        page = harness.login("kate", locale="zh-CN")
        batch_id = create_batch(page, MIXED)
        page.goto(f"/batches/{batch_id}")
        expect(page.locator("#count-succeeded")).to_have_text("2", timeout=15_000)
        expect(page.locator("#count-failed")).to_have_text("1", timeout=15_000)
        expect(page.locator("#batch-status")).to_have_text("进行中")

        page.get_by_role("button", name="取消批次").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("要取消这个批次吗？尚未完成的 2 个任务都将停止")
        shot(page, "batch-cancel-confirm-zh")
        dialog.get_by_role("button", name="继续运行").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#batch-status")).to_have_text("进行中")  # nothing was cancelled

        page.get_by_role("button", name="取消批次").click()
        dialog.get_by_role("button", name="取消批次").click()
        expect(page.locator("#batch-status")).to_have_text("已取消")
        return {"id": batch_id, "batch": page.request.get(f"/api/batches/{batch_id}").json()}
    finally:
        harness.close()
        assert not harness.console.unexpected(), harness.console.unexpected()


def _widths(bar: Any) -> list[str]:
    return [
        bar.locator(f".progress-{part}").evaluate("e => e.style.width")
        for part in ("ok", "failed", "cancelled")
    ]


def _rate_text(batch: dict[str, Any]) -> str:
    """What the page must show: real completions (not the cancelled) over the whole run, as
    the page computes it (milliseconds, at least one second, rounded to a tenth)."""
    start = datetime.fromisoformat(batch["started_at"]).timestamp()
    end = datetime.fromisoformat(batch["finished_at"]).timestamp()
    seconds = max((int(end * 1000) - int(start * 1000)) / 1000, 1)
    per_minute = int((batch["succeeded"] + batch["failed"]) / seconds * 600 + 0.5) / 10
    return f"{per_minute:g} 张/分钟"


def test_the_batch_page_counts_cancelled_apart(
    web: Browse, cancelled_batch: dict[str, Any]
) -> None:
    batch_id, batch = cancelled_batch["id"], cancelled_batch["batch"]
    assert (batch["succeeded"], batch["failed"], batch["cancelled"]) == (2, 1, 2)
    page = web.login("kate", locale="zh-CN")
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#batch-status")).to_have_text("已取消")
    expect(page.locator("#count-cancelled")).to_have_text("2")
    expect(page.locator("#count-succeeded")).to_have_text("2")
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.locator("#count-pending")).to_have_text("0")
    assert _widths(page.locator("#progress-bar")) == ["40%", "20%", "40%"]
    expect(page.locator("#progress-bar")).to_have_attribute("aria-valuetext", ZH_TEXT)
    expect(page.locator("#batch-rate")).to_have_text(_rate_text(batch))
    expect(page.locator("#batch-eta")).to_have_text("已结束")
    expect(page.locator("#act-cancel")).to_be_hidden()
    page.locator("#task-filters").get_by_role("button", name="已取消").click()
    cards = page.locator(".task-card")
    expect(cards).to_have_count(2)
    expect(cards.locator(".badge")).to_have_text(["已取消", "已取消"])
    shot(page, "batch-cancelled-zh")
    phone = web.login("kate", locale="zh-CN", width=390, height=844)
    phone.goto(f"/batches/{batch_id}")
    expect(phone.locator("#count-cancelled")).to_have_text("2")
    expect(phone.locator("#count-cancelled")).to_be_in_viewport()
    shot(phone, "batch-cancelled-zh-phone")


def test_the_batches_list_never_says_completed(
    web: Browse, cancelled_batch: dict[str, Any]
) -> None:
    batch_id = cancelled_batch["id"]
    for locale, text, status, chip in (
        ("zh-CN", ZH_TEXT, "已取消", "已取消"),
        ("en-US", EN_TEXT, "Cancelled", "Cancelled"),
    ):
        page = web.login("kate", locale=locale)
        page.goto("/batches")
        row = page.locator(f"#batches-body tr[data-id='{batch_id}']")
        expect(row.locator(".progress-text")).to_have_text(text)
        expect(row.locator(".badge")).to_have_text(status)
        assert _widths(row.locator(".progress")) == ["40%", "20%", "40%"]
        page.locator("#batch-filters").get_by_role("button", name=chip, exact=True).click()
        expect(page.locator("#batches-body tr .badge")).to_have_text([status])
        shot(page, f"batches-cancelled-{locale}")


def test_the_admin_monitor_counts_and_filters_cancelled(
    web: Browse, cancelled_batch: dict[str, Any]
) -> None:
    batch_id = cancelled_batch["id"]
    admin = web.login("admin", locale="zh-CN")
    admin.goto("/admin")
    row = admin.locator("#monitor-body tr", has=admin.locator(f"a[href='/batches/{batch_id}']"))
    expect(row.locator(".progress-text")).to_have_text(ZH_TEXT)
    expect(row.locator(".badge")).to_have_text("已取消")
    assert int(admin.locator("#stat-cancelled").inner_text()) >= 1
    admin.locator("#monitor-filters").get_by_role("button", name="已取消").click()
    badges = admin.locator("#monitor-body tr .badge")
    expect(badges.first).to_have_text("已取消")
    assert set(badges.all_inner_texts()) == {"已取消"}
    shot(admin, "admin-monitor-cancelled-zh")


def test_keyboard_focus_on_a_thumbnail_shows_a_ring(
    web: Browse, cancelled_batch: dict[str, Any]
) -> None:
    page = web.login("kate", locale="zh-CN")
    page.goto(f"/batches/{cancelled_batch['id']}")
    thumb = page.locator("#task-grid .thumb-button").first
    expect(thumb.locator("img")).to_be_visible()
    thumb.evaluate("e => e.querySelector('img').decode()")
    before = Image.open(io.BytesIO(thumb.screenshot())).convert("RGB")
    page.locator("#task-filters .chip").last.focus()
    page.keyboard.press("Tab")
    expect(thumb).to_be_focused()
    assert thumb.evaluate("e => e.matches(':focus-visible')")
    after = Image.open(io.BytesIO(thumb.screenshot())).convert("RGB")
    middle = after.height // 2
    # The outer ring is the accent colour, a thin white ring inside it: on any picture.
    for x, y in ((1, middle), (after.width - 2, middle), (after.width // 2, 1)):
        assert _near(after.getpixel((x, y)), ACCENT), (x, y, after.getpixel((x, y)))
    assert _near(after.getpixel((5, middle)), (255, 255, 255)), after.getpixel((5, middle))
    assert not _near(before.getpixel((1, middle)), ACCENT)  # the ring is the focus, not the picture
    shot(page, "thumbnail-focus-ring")

    page.goto("/history")  # the same thumbnails, the same ring
    pictures = page.locator(".record-card .thumb-button")
    expect(pictures).to_have_count(2)
    pictures.first.focus()
    ring = (
        "e => [e.matches(':focus-visible'),"
        " getComputedStyle(e).outlineWidth, getComputedStyle(e).outlineColor]"
    )
    assert pictures.first.evaluate(ring) == [True, "4px", "rgb(79, 70, 229)"]


def _near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_a_taken_user_name_says_so_in_both_languages(web: Browse) -> None:
    expected = {
        "zh-CN": "已有名为 alice 的用户，请换一个名字。",
        "en-US": "A user named alice already exists; choose another name.",
    }
    web.console.allow("status of 409")  # the refusal this test provokes
    for locale, message in expected.items():
        admin = web.login("admin", locale=locale)
        admin.goto("/admin/users")
        admin.locator("#user-add").click()
        admin.locator("#new-user-name").fill("alice")
        admin.locator("#user-form button[type=submit]").click()
        expect(admin.locator("#user-issues")).to_have_text(message)
        expect(admin.locator("#user-dialog")).to_be_visible()  # still open, to choose another
        shot(admin, f"admin-user-exists-{locale}")
