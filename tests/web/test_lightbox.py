"""The lightbox in a real browser: an edit's before/after slider (pointer and keyboard), zoom
(wheel around the pointer, 1:1 at natural size, double-click, pan), and ← → between images
while not zoomed; in English and Chinese, at desktop and phone size."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import PASSWORD, Browse, create_batch, csrf, shot

USER = "lena"
#: the wide demo picture is 1024 px or more across: fitting it in the lightbox scales it down
WIDE = {"prompt": "A {fox|hare}", "aspect_ratio": "16:9"}


def _edit_batch(page: Any) -> int:
    """A finished two-image batch, then a batch editing its first output: the one to compare."""
    source = create_batch(page, WIDE)
    _wait_done(page, source, 2)
    tasks = page.request.get(f"/api/batches/{source}/tasks").json()["items"]
    image_id = tasks[0]["output_image_id"]
    answer = page.request.post(
        f"/api/images/{image_id}/edit",
        data={"prompt": "the fox, in snow", "count": 2},
        headers={"X-CSRF-Token": csrf(page)},
    )
    assert answer.status in (200, 201), answer.text()
    batch_id: int = answer.json()["batch"]["id"]
    _wait_done(page, batch_id, 2)
    return batch_id


def _wait_done(page: Any, batch_id: int, tasks: int) -> None:
    page.goto(f"/batches/{batch_id}")
    expect(page.locator(".task-card img")).to_have_count(tasks, timeout=15_000)
    expect(page.locator(".task-card img").first).to_have_js_property("complete", True)


def _open(page: Any, task: int, title: str = "Image details") -> Any:
    page.locator(".thumb-button").nth(task - 1).click()
    box = page.get_by_role("dialog", name=title)
    expect(box).to_be_visible()
    expect(box.locator(".viewer-after")).to_have_js_property("complete", True)
    return box


def _clip(box: Any) -> str:
    clip: str = box.locator(".viewer-after").evaluate("img => getComputedStyle(img).clipPath")
    return clip


def _rendered_width(box: Any) -> float:
    width: float = box.locator(".viewer-after").evaluate("img => img.getBoundingClientRect().width")
    return width


def _natural_width(box: Any) -> int:
    width: int = box.locator(".viewer-after").evaluate("img => img.naturalWidth")
    return width


def test_an_edit_compares_before_and_after_with_a_slider(web: Browse) -> None:
    page = web.login(USER)
    batch_id = _edit_batch(page)
    page.goto(f"/batches/{batch_id}")
    box = _open(page, 1)
    slider = box.get_by_role("slider", name="Before/after divider")
    expect(slider).to_be_visible()
    expect(slider).to_have_attribute("aria-valuenow", "50")
    expect(box.locator(".viewer-labels")).to_have_text("BeforeAfter")
    assert _clip(box) == "inset(0px 0px 0px 50%)"
    before = box.locator(".viewer-before")
    assert before.evaluate("img => img.naturalWidth") > 0  # the input image really loaded
    shot(page, "lightbox-compare")

    # Dragging the divider to a quarter of the picture's width.
    area = box.locator(".viewer-after").bounding_box()
    handle = slider.bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, area["y"] + area["height"] / 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 4, area["y"] + area["height"] / 2, steps=5)
    page.mouse.up()
    expect(slider).to_have_attribute("aria-valuenow", "25")
    assert _clip(box).startswith("inset(0px 0px 0px 25")

    # The keyboard: ← → move it 5 %, Home and End to the ends, and the image stays the same.
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuenow", "30")
    page.keyboard.press("End")
    expect(slider).to_have_attribute("aria-valuenow", "100")
    assert _clip(box) == "inset(0px 0px 0px 100%)"
    page.keyboard.press("Home")
    expect(slider).to_have_attribute("aria-valuenow", "0")
    expect(box.get_by_text("1 / 2")).to_be_visible()

    # Side by side: both images whole, no divider; and back.
    box.get_by_role("button", name="Side by side").click()
    expect(slider).to_be_hidden()
    assert _clip(box) == "none"
    after_box = box.locator(".viewer-after").bounding_box()
    before_box = before.bounding_box()
    assert before_box["x"] + before_box["width"] <= after_box["x"], (before_box, after_box)
    shot(page, "lightbox-side-by-side")
    box.get_by_role("button", name="Slider").click()
    expect(slider).to_be_visible()


def test_a_generated_image_has_no_slider(web: Browse) -> None:
    page = web.login(USER)
    batch_id = create_batch(page, {"prompt": "a plain owl"})
    _wait_done(page, batch_id, 1)
    box = _open(page, 1)
    expect(box.locator(".viewer-divider")).to_be_hidden()
    expect(box.locator(".viewer-before")).to_be_hidden()
    expect(box.get_by_role("button", name="Side by side")).to_be_hidden()


def test_zoom_with_the_wheel_1_to_1_double_click_and_pan(web: Browse) -> None:
    page = web.login(USER)
    batch_id = create_batch(page, WIDE)
    _wait_done(page, batch_id, 2)
    box = _open(page, 1)
    level = box.locator(".viewer-level")
    fitted = _rendered_width(box)
    assert fitted < _natural_width(box)  # fitted into the lightbox, smaller than its pixels

    # The wheel zooms in around the pointer: the point under it stays put (mid-height: a wide
    # picture stays centred vertically until it is taller than the stage).
    area = box.locator(".viewer-stage").bounding_box()
    x, y = area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.5
    point_before = _image_point(box, x, y)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -300)
    expect(box.locator(".viewer-stage.zoomed")).to_have_count(1)
    assert _rendered_width(box) > fitted * 1.3
    point_after = _image_point(box, x, y)
    assert abs(point_after[0] - point_before[0]) < 2 and abs(point_after[1] - point_before[1]) < 2

    # ← → pan while zoomed instead of changing the image; dragging pans too.
    left = box.locator(".viewer-after").bounding_box()["x"]
    page.keyboard.press("ArrowRight")
    expect(box.get_by_text("1 / 2")).to_be_visible()
    assert box.locator(".viewer-after").bounding_box()["x"] < left
    left = box.locator(".viewer-after").bounding_box()["x"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 10, steps=4)
    page.mouse.up()
    assert abs(box.locator(".viewer-after").bounding_box()["x"] - (left + 60)) < 1.5

    # "Fit" goes back; "1:1" shows the picture at its natural size.
    box.get_by_role("button", name="Fit").click()
    assert abs(_rendered_width(box) - fitted) < 1
    expect(level).to_have_text(f"{round(fitted / _natural_width(box) * 100)} %")
    box.get_by_role("button", name="Actual pixels (1:1)").click()
    assert _rendered_width(box) == _natural_width(box)
    expect(level).to_have_text("100 %")
    shot(page, "lightbox-zoom-1-1")

    # A double-click toggles fit ↔ 1:1.
    box.locator(".viewer-stage").dblclick()
    assert abs(_rendered_width(box) - fitted) < 1
    box.locator(".viewer-stage").dblclick()
    assert _rendered_width(box) == _natural_width(box)
    box.locator(".viewer-stage").dblclick()

    # Not zoomed: ← → move between the images again, and Esc closes.
    page.keyboard.press("ArrowRight")
    expect(box.get_by_text("2 / 2")).to_be_visible()
    expect(box.locator(".prompt-text")).to_have_text("A hare")
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()


def _image_point(box: Any, x: float, y: float) -> tuple[float, float]:
    """Which point of the picture (in its own pixels) is under the screen point (x, y)."""
    point: list[float] = box.locator(".viewer-after").evaluate(
        """(img, [x, y]) => { const r = img.getBoundingClientRect();
        return [(x - r.left) / r.width * img.naturalWidth,
                (y - r.top) / r.height * img.naturalHeight]; }""",
        [x, y],
    )
    return point[0], point[1]


def _touch_phone(web: Browse) -> Any:
    """A phone with a touch screen (Browse's pages have none), logged in, in Chinese."""
    context = web.browser.new_context(
        base_url=web.live.url,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    context.set_default_timeout(10_000)
    web.contexts.append(context)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and web.console.record(m.text))
    page.on("pageerror", lambda error: web.console.record(f"pageerror: {error}"))
    page.goto("/login")
    page.locator("#login-name").fill(USER)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()
    page.wait_for_url("**/compose")
    return page


def test_the_lightbox_in_chinese_on_a_touch_phone(web: Browse) -> None:
    batch_id = _edit_batch(web.login(USER))
    phone = _touch_phone(web)
    _wait_done(phone, batch_id, 2)
    box = _open(phone, 1, title="图片详情")
    expect(box.locator(".viewer-labels")).to_have_text("原图结果")
    slider = box.get_by_role("slider", name="原图与结果分界线")
    expect(slider).to_be_visible()
    expect(box.get_by_role("button", name="并排对比")).to_be_visible()
    area = box.locator(".viewer-after").bounding_box()
    assert area["x"] >= 0 and area["x"] + area["width"] <= 390, area
    # A tap moves the divider to the finger.
    stage = box.locator(".viewer-stage")
    origin = stage.bounding_box()
    x, y = (
        area["x"] - origin["x"] + area["width"] * 0.2,
        area["y"] - origin["y"] + area["height"] / 2,
    )
    stage.tap(position={"x": x, "y": y})
    expect(slider).to_have_attribute("aria-valuenow", "20")
    shot(phone, "lightbox-compare-phone-zh")
    box.get_by_role("button", name="原始尺寸 (1:1)").tap()
    assert _rendered_width(box) == _natural_width(box)
    expect(box.get_by_role("button", name="适应窗口")).to_be_visible()
    expect(box.locator(".viewer-level")).to_have_text("100 %")
    shot(phone, "lightbox-zoom-phone-zh")
