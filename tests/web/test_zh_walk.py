"""Every page in Chinese, errors included (issue 15, part 2): a walk through the site as a
Chinese-speaking admin fails on any visible English outside ids, file names and the user's
own prompts. Also: failures show their category before the provider's words, generated batch
names and providers' names read in the page's language, in English as well."""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.conftest import USERS, Browse, Console, LiveServer, create_batch, csrf, shot

USER = "mia"  # an admin: the admin pages are part of the walk
SHORT = "nora"  # has her credits taken away for the 402
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: one picture, one refusal, one that never ends (cancelled): named "3 行" by the service
ROWS = {
    "rows": [
        {"prompt": "一只猫"},
        {"prompt": "一只狗 [demo:reject]"},
        {"prompt": "一只狐狸 [demo:hang]"},
    ]
}

# What the walk may meet in Latin letters: brand and provider names, units and formats;
# ids (provider and model names, user names) are added from the server's own lists.
ALLOWED = [
    "imagebatch",
    "Gemini",
    "Nano Banana",
    "Pro",
    "OpenAI",
    "GPT Image",
    "Seedream",
    "ComfyUI",
    "BytePlus",
    "USD",
    "Jimeng",
    "IMAGEBATCH_COMFYUI_WORKFLOW",
    "English",
    "API",
    "ZIP",
    "CSV",
    "XLSX",
    "Excel",
    "PNG",
    "JPEG",
    "GIF",
    "BMP",
    "HEIC",
    "WebP",
    "URL",
    "HTTP",
    "HTTPS",
    "Webhook",
    "webhook",
    "JSON",
    "JSONL",
    "ID",
    "AI",
    "Esc",
    "POST",
    "Authorization",
    "Bearer",
    "GB",
    "MB",
    "KB",
    "UTC",
    "1K",
    "2K",
    "4K",
    "AM",
    "PM",
]
#: the server's own words that a page keeps one hover away on purpose (issue 15 §2: the
#: file tile's tooltip beside its translated refusal)
SERVER_WORDS = ["is a text file, not an image", "use JPEG, PNG, WebP, GIF, BMP or HEIC"]
#: URLs, paths, file names, ids with "-" or "_", a template's {name} and {a|b}
ID = re.compile(
    r"https?://\S+|/[\w/.-]+|\b[\w.-]+\.(?:png|jpe?g|webp|csv|xlsx|zip)\b|\b\w+[-_]\w[\w.-]*"
    r"|\{[^{}]*\}"
)
LATIN = re.compile(r"[A-Za-z]{2,}")

#: the page's visible text: text nodes of rendered elements, titles, placeholders and
#: labels; quoted words are left out: translate="no" (a provider's own message) and lang="en"
#: (the server's words, kept one click away behind a translated message)
VISIBLE_TEXT = """() => {
  const quoted = '[translate="no"], [lang="en"], script, style, template, noscript';
  const skip = (el) => el.closest(quoted);
  const shown = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (node.textContent.trim() && el && !skip(el) && shown(el)) out.push(node.textContent);
  }
  for (const el of document.querySelectorAll("[title], [placeholder], [aria-label]")) {
    if (skip(el) || !shown(el)) continue;
    for (const name of ["title", "placeholder", "aria-label"]) {
      if (el.getAttribute(name)) out.push(el.getAttribute(name));
    }
  }
  for (const el of document.querySelectorAll("option")) if (!skip(el)) out.push(el.textContent);
  return out;
}"""


def _ids(page: Any) -> list[str]:
    """Provider, model and user names: ids, shown as they are."""
    answer = page.request.get("/api/config")
    ids = [*USERS, socket.gethostname()]  # the admin monitor names workers by host
    for provider in answer.json()["providers"] if answer.ok else []:
        ids += [provider["name"], *(model["name"] for model in provider["models"])]
    return ids


def english_in(page: Any, allowed: Iterable[str] = ()) -> list[str]:
    """Every Latin word the page shows beyond ids, file names, brands and units: strict, so
    that one untranslated word fails the walk. Returns the texts that hold one."""
    found: list[str] = []
    tokens = sorted([*ALLOWED, *SERVER_WORDS, *allowed, *_ids(page)], key=len, reverse=True)
    for original in page.evaluate(VISIBLE_TEXT):
        text = ID.sub(" ", original)
        for token in tokens:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(token)}(?![A-Za-z])", " ", text)
        if LATIN.search(text):
            found.append(original.strip()[:120])
    return sorted(set(found))


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), "teal").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of the walk's own: the batches and presets other modules' users wrote (in
    English, as users may) are theirs to show, not untranslated words of ours."""
    yield from LiveServer(tmp_path_factory.mktemp("zh-walk") / "data").serve()


@pytest.fixture(scope="module")
def walked(browser: Any, live: LiveServer) -> dict[str, int]:
    """Mia's batch of three rows: one made, one refused by the provider, one cancelled."""
    harness = Browse(browser, live, Console())
    try:
        page = harness.login(USER, locale="zh-CN")
        batch_id = create_batch(page, ROWS)
        page.goto(f"/batches/{batch_id}")
        expect(page.locator("#count-succeeded")).to_have_text("1", timeout=15_000)
        expect(page.locator("#count-failed")).to_have_text("1", timeout=15_000)
        page.get_by_role("button", name="取消批次").click()
        page.get_by_role("dialog").get_by_role("button", name="取消批次").click()
        expect(page.locator("#batch-status")).to_have_text("已取消")
        return {"batch": batch_id}
    finally:
        harness.close()
        assert not harness.console.unexpected(), harness.console.unexpected()


def _settled(page: Any) -> None:
    """Every list and form the page fills has been filled (they are aria-busy until then)."""
    page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")


def _walk(page: Any, name: str, size: str, allowed: Iterable[str] = ()) -> None:
    _settled(page)
    shot(page, f"zh-walk-{name}-{size}")
    found = english_in(page, allowed)
    assert not found, f"{name}: {found}"


# ---- the pages, each a step: (path, what to do there, tokens the user wrote) ----
def _compose_generate(page: Any) -> None:
    page.locator("#gen-prompt").fill("一只 {animal")  # the server's preview finds the brace open
    expect(page.locator("#gen-preview-summary")).to_have_class(re.compile(r"\bbad\b"))
    page.locator("#submit").click()
    expect(page.locator(".toast").last).to_be_visible()


def _compose_edit(page: Any) -> None:
    page.get_by_role("tab", name="批量改图").click()
    page.locator("#edit-files").set_input_files(
        [{"name": "fake.png", "mimeType": "image/png", "buffer": b"not a picture"}]
    )
    expect(page.locator(".file-tile.has-error")).to_be_visible()


def _compose_table(page: Any) -> None:
    page.get_by_role("tab", name="表格").click()
    page.get_by_label("提示词, 第 1 行", exact=True).fill("风筝")
    page.get_by_label("生成数量, 第 1 行").fill("20")
    expect(page.locator("#table-body td.cell-bad")).to_have_count(1)


def _lightbox(page: Any) -> None:
    expect(page.locator(".task-card.status-failed .failure-kind")).to_have_text("内容被拒绝")
    page.locator(".thumb-button").first.click()
    expect(page.locator("dialog.lightbox")).to_be_visible()


def _history(page: Any) -> None:
    expect(page.locator(".record-card").first).to_be_visible()


def _missing_page(page: Any) -> None:
    expect(page.locator("#not-found h1")).to_have_text("没有这个页面")


STEPS: dict[str, tuple[str, Callable[[Any], None] | None]] = {
    "compose-generate": ("/compose", _compose_generate),
    "compose-edit": ("/compose", _compose_edit),
    "compose-table": ("/compose#table", _compose_table),
    "batches": ("/batches", None),
    "batch": ("/batches/{batch}", _lightbox),
    "history": ("/history", _history),
    "account": ("/account", None),
    "admin-monitor": ("/admin", None),
    "admin-settings": ("/admin/settings", None),
    "admin-presets": ("/admin/presets", None),
    "admin-users": ("/admin/users", None),
    "missing-batch": ("/batches/987654", None),
    "missing-page": ("/admin/monitor", _missing_page),
}


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("step", list(STEPS))
def test_every_page_reads_in_chinese(
    web: Browse, walked: dict[str, int], step: str, size: str
) -> None:
    web.console.allow("status of 4")  # the errors each step provokes on purpose
    page = web.login(USER, locale="zh-CN", **(DESKTOP if size == "desktop" else PHONE))
    path, act = STEPS[step]
    page.goto(path.format(**walked))
    _settled(page)
    if act:
        act(page)
    _walk(page, step, size, allowed=["[demo:reject]", "[demo:hang]"])  # the prompts' markers


def test_the_login_page_reads_in_chinese(web: Browse) -> None:
    web.console.allow("status of 401")  # the wrong password, on purpose
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = web.page(locale="zh-CN", **viewport)
        page.goto("/login")
        page.locator("#login-name").fill(USER)
        page.locator("#login-password").fill("wrong password")
        page.locator("#login-submit").click()
        expect(page.locator("[role=alert], .form-error").first).to_be_visible()
        _walk(page, "login", size)


def test_a_402_reads_in_chinese(web: Browse) -> None:
    web.console.allow("status of 402")
    admin = web.login(USER, locale="zh-CN")
    users = admin.request.get("/api/admin/users?limit=1000").json()
    items = users["items"] if isinstance(users, dict) else users
    nora = next(u for u in items if u["name"] == SHORT)
    taken = admin.request.post(
        f"/api/admin/users/{nora['id']}/credits",
        data={"amount": -nora["credits"], "note": "test"},
        headers={"X-CSRF-Token": csrf(admin)},
    )
    assert taken.ok, taken.text()
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = web.login(SHORT, locale="zh-CN", **viewport)
        page.locator("#gen-prompt").fill("一只猫")
        expect(page.locator("#gen-preview-summary")).to_contain_text("1")  # the preview is back
        page.locator("#submit").click()
        expect(page.locator(".toast-error").last).to_be_visible()
        shot(page, f"zh-walk-credits-402-{size}")
        expect(page.locator(".toast-error").last).to_contain_text("积分")
        _walk(page, "credits-402", size, allowed=["一只"])


def test_failures_and_generated_names_read_in_each_language(
    web: Browse, walked: dict[str, int]
) -> None:
    batch_id = walked["batch"]
    for locale, name, kind, provider in (
        ("zh-CN", "3 行", "内容被拒绝", "演示"),
        ("en-US", "3 rows", "Content rejected", "Demo"),
    ):
        page = web.login(USER, locale=locale)
        page.goto(f"/batches/{batch_id}")
        expect(page.locator("#batch-name")).to_have_text(name)
        expect(page.locator("#batch-meta")).to_contain_text(provider)
        failure = page.locator(".task-card.status-failed .task-error")
        expect(failure.locator(".failure-kind")).to_have_text(kind)
        expect(failure.locator(".failure-words")).to_contain_text("safety filter")  # the provider's
        page.goto("/batches")
        expect(page.locator(f"#batches-body a[href='/batches/{batch_id}']")).to_have_text(name)
        page.goto("/history")
        card = page.locator(".record-card", has_text="一只狗")
        expect(card.locator(".failure-kind")).to_have_text(kind)
        expect(card.locator(f"a[href='/batches/{batch_id}']")).to_have_text(name)


def test_an_edit_batch_is_named_in_the_readers_language(web: Browse) -> None:
    page = web.login(USER, locale="zh-CN")
    page.get_by_role("tab", name="批量改图").click()
    files = [{"name": f"{n}.png", "mimeType": "image/png", "buffer": _png()} for n in ("a", "b")]
    page.locator("#edit-files").set_input_files(files)
    page.locator("#edit-prompt").fill("水彩")
    page.locator("#submit").click()
    expect(page.locator("#batch-name")).to_have_text("2 张图片")
    answer = page.request.get(page.url.replace("/batches/", "/api/batches/")).json()
    assert (answer["name"], answer["name_code"]) == ("2 images", "images")
    shot(page, "zh-walk-edit-batch-name")


def test_providers_show_their_names_in_the_pickers(web: Browse) -> None:
    page = web.login(USER, locale="zh-CN")
    options = page.locator("#opt-provider option").all_text_contents()
    assert "演示 · demo" in options
    expect(page.locator("#opt-model-desc")).to_contain_text("离线占位图")


def test_a_missing_page_is_a_page_and_the_api_stays_json(web: Browse) -> None:
    web.console.allow("status of 404")  # the page's own status
    page = web.page()
    answer = page.goto("/no/such/page")
    assert answer is not None and answer.status == 404
    expect(page.locator("#not-found h1")).to_have_text("There is no such page")
    api = page.request.get("/api/no-such-thing", headers={"Accept": "text/html"})
    assert api.status == 404 and api.json()["error"]["code"] == "not_found"
