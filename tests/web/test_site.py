"""The rest of the site in a real browser: languages, the admin pages (settings, presets,
monitoring, users), who may see them, the batches list, history, and phone-width layouts."""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from playwright.sync_api import expect

from imagebatch.app import App
from tests.web.conftest import Browse, create_batch, shot


def test_language_follows_the_browser_and_the_switch(web: Browse) -> None:
    page = web.page(locale="zh-CN")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page = web.login("alice")
    page.get_by_role("link", name="中文").click()
    page.wait_for_url("**/compose")
    expect(page.get_by_role("tab", name="批量生图")).to_be_visible()
    expect(page.get_by_role("tab", name="批量改图")).to_be_visible()
    expect(page.get_by_role("tab", name="表格")).to_be_visible()
    expect(page.get_by_role("button", name="开始生成")).to_be_visible()
    page.locator("#gen-prompt").fill("一只{动物}")
    page.get_by_label("{动物} 的取值").fill("猫\n狗")
    expect(page.locator("#gen-preview-summary")).to_have_text("2 条提示词 × 1 = 2 张图")
    expect(page.locator("#est-cost")).to_have_text("1 积分")
    shot(page, "compose-zh")
    page.goto("/batches")
    expect(page.get_by_role("heading", name="我的批次")).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="My batches")).to_be_visible()


def test_admin_changes_concurrency_and_adds_a_preset_users_then_see(web: Browse) -> None:
    admin = web.login("admin")
    create_batch(admin, {"prompt": "{a fox [demo:reject]|a calm lake|a hare}", "name": "mixed"})
    admin.get_by_role("link", name="Admin", exact=True).click()
    expect(admin.locator("#stat-batches")).not_to_have_text("–")
    expect(admin.locator("#monitor-body tr").first).to_be_visible()
    admin.locator("canvas#chart-days").wait_for()
    worker = admin.locator(f"#workers-body tr[data-pid='{os.getpid()}']")  # the in-process one
    expect(worker.locator("td").first).to_have_text(socket.gethostname())
    expect(worker.locator(".badge")).to_have_text("Live")
    expect(worker.locator("td").nth(3)).to_have_text(re.compile(r"^\d+ / \d+$"))
    shot(admin, "admin-monitor")

    admin.get_by_role("link", name="Settings").click()
    concurrency = admin.get_by_label("Global concurrency")
    expect(concurrency).not_to_have_value("")
    concurrency.fill("7")
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("Settings saved.")).to_be_visible()
    shot(admin, "admin-settings")

    async def concurrency_now(app: App) -> int:
        return (await app.runtime_settings.current()).global_concurrency

    assert web.live.call(concurrency_now) == 7
    admin.reload()
    expect(admin.get_by_label("Global concurrency")).to_have_value("7")

    admin.get_by_role("link", name="Presets").click()
    # Served disabled until the page's module gives it its handler (a click before that did
    # nothing: seen once on a loaded CI machine); Playwright's click waits for it.
    admin.get_by_role("button", name="Add preset").click()
    dialog = admin.get_by_role("dialog", name="Add preset")
    dialog.get_by_label("Title").fill("Watercolour")
    dialog.get_by_label("Category").fill("Styles")
    dialog.get_by_label("Prompt text").fill("soft watercolour, paper texture")
    dialog.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("cell", name="Watercolour", exact=True)).to_be_visible()
    admin.get_by_role("button", name="Add preset").click()
    dialog.get_by_label("Title").fill("Studio")
    dialog.get_by_label("Prompt text").fill("studio light, white background")
    dialog.get_by_role("button", name="Save").click()
    admin.get_by_role("button", name="Move Studio up").click()
    titles = admin.locator("#presets-body tr td.strong")
    expect(titles.nth(-2)).to_have_text("Studio")  # after the presets the server starts with
    expect(titles.nth(-1)).to_have_text("Watercolour")
    admin.get_by_role("button", name="Move Studio down").focus()
    shot(admin, "admin-presets")

    admin.get_by_role("link", name="Users & credits").click()
    expect(admin.get_by_role("cell", name="alice", exact=True)).to_be_visible()
    expect(admin.get_by_role("button", name="New user")).to_be_enabled()  # served disabled
    shot(admin, "admin-users")

    user = web.login("alice")
    picker = user.get_by_label("Preset prompt")
    expect(picker.locator("optgroup[label=Styles] option")).to_have_text(["Watercolour"])
    names = picker.locator("option").all_inner_texts()
    assert names.index("Studio") < names.index("Watercolour")
    picker.select_option(label="Watercolour")
    expect(user.locator("#opt-preset-content")).to_have_text("soft watercolour, paper texture")
    user.locator("#gen-prompt").fill("a lighthouse")
    expect(user.locator("#gen-preview-list li")).to_have_text(
        ["soft watercolour, paper texture\na lighthouse"]
    )


def test_a_user_cannot_reach_admin_pages(web: Browse) -> None:
    page = web.login("alice")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    web.console.allow("status of 403")
    for path in ("/admin", "/admin/settings", "/admin/presets", "/admin/users"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", name="Administrators only")).to_be_visible()
    shot(page, "forbidden")
    answer = page.request.get("/api/admin/settings")
    assert answer.status == 403
    stranger = web.page()
    stranger.goto("/admin/users")
    expect(stranger).to_have_url("/login?next=/admin/users")


def test_batches_list_newest_first(web: Browse) -> None:
    page = web.login("dave")
    first = create_batch(page, {"prompt": "first", "name": "older batch"})
    second = create_batch(page, {"prompt": "second", "name": "newer batch"})
    page.get_by_role("link", name="Batches").click()
    rows = page.locator("#batches-body tr")
    expect(rows.first.get_by_role("link")).to_have_text("newer batch")
    expect(rows.nth(1).get_by_role("link")).to_have_text("older batch")
    expect(rows.first.get_by_role("progressbar")).to_be_visible()
    expect(rows.first.locator(".badge")).to_have_text("Completed", timeout=15_000)
    assert second > first
    shot(page, "batches")


def test_history_search_pages_lightbox_download_and_delete(web: Browse) -> None:
    page = web.login("carol")
    batch_id = create_batch(
        page,
        {
            "prompt": "{animal} by {painter}",
            "variables": {"animal": ["zebra", "lion"], "painter": [f"p{n}" for n in range(13)]},
        },
    )
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#batch-status")).to_have_text("Completed", timeout=15_000)
    page.get_by_role("link", name="History").click()
    expect(page.locator("#history-grid li")).to_have_count(24)
    expect(page.locator("#pager-state")).to_contain_text("Page 1 of")
    page.get_by_role("button", name="Next →").click()
    expect(page).to_have_url("/history?page=2")
    page.locator("#history-q").fill("zebra")
    page.keyboard.press("Enter")
    expect(page.locator("#history-summary")).to_have_text("13 results for “zebra”")
    expect(page.locator("#history-grid li")).to_have_count(13)
    shot(page, "history")
    page.locator(".record-card .thumb-button").first.click()
    box = page.get_by_role("dialog", name="Image details")
    expect(box.locator(".prompt-text")).to_contain_text("zebra")
    with page.expect_download() as download:
        box.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename.endswith(".jpg")
    page.keyboard.press("Escape")
    page.locator(".record-card").first.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted.")).to_be_visible()
    expect(page.locator("#history-grid li")).to_have_count(12)


def _fits(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def test_phone_width_layouts(web: Browse) -> None:
    page = web.login("carol", width=390, height=844)
    batch_id = create_batch(page, {"prompt": "A {cat|dog}"})
    for path, name in (
        ("/compose", "phone-compose"),
        ("/compose#table", "phone-compose-table"),
        (f"/batches/{batch_id}", "phone-batch"),
        ("/batches", "phone-batches"),
        ("/history", "phone-history"),
        ("/account", "phone-account"),
    ):
        page.goto(path)
        page.locator("main").wait_for()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        _fits(page)
        shot(page, name)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
