"""Every prompt box takes as many characters as the server does (IMAGEBATCH_MAX_PROMPT_CHARS,
served in GET /api/config; the live server sets it to neither the default nor the 4,000 the
pages once wrote in themselves)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import MAX_PROMPT_CHARS, Browse, create_batch

USER = "paul"


def _takes_the_limit(box: Any) -> None:
    expect(box).to_have_js_property("maxLength", MAX_PROMPT_CHARS)


def test_the_compose_boxes_take_the_servers_limit(web: Browse) -> None:
    page = web.login(USER)
    for box in ("#gen-prompt", "#edit-prompt", "#opt-negative"):
        _takes_the_limit(page.locator(box))
    page.get_by_role("tab", name="Table").click()
    _takes_the_limit(page.get_by_label("Prompt, row 1", exact=True))
    _takes_the_limit(page.get_by_label("Negative prompt, row 1"))


def test_both_edit_dialogs_take_the_servers_limit(web: Browse) -> None:
    page = web.login(USER)
    batch_id = create_batch(page, {"prompt": "a kite"})
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#batch-status")).to_have_text("Completed", timeout=15_000)

    page.get_by_role("button", name="Open result of task 1").click()
    page.get_by_role("dialog", name="Image details").get_by_role(
        "button", name="Edit this result"
    ).click()
    reprompt = page.get_by_role("dialog", name="Edit this result")
    _takes_the_limit(reprompt.locator("textarea"))
    reprompt.get_by_role("button", name="Cancel").click()
    expect(reprompt).to_be_hidden()
    page.keyboard.press("Escape")  # the lightbox

    page.locator("#task-grid .tile-check").first.click()
    page.locator("#sel-edit").click()
    bulk = page.get_by_role("dialog", name="Edit 1 image with a new prompt")
    _takes_the_limit(bulk.locator("textarea"))
