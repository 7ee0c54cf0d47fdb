"""The server's English errors in Chinese: a table with an unknown column explained in the
page (with the server's words kept in a <details>), and the other common kinds rebuilt
from real error bodies of the live server by lib/messages.js."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Browse, csrf, shot

TRANSLATE = """async (bodies) => {
  const m = await import("/static/js/lib/messages.js");
  return bodies.map((issue) => m.translateIssue(issue));
}"""
TITLE = """async (body) => {
  const { ApiError, errorTitle } = await import("/static/js/lib/api.js");
  return errorTitle(new ApiError(body.status, body.body));
}"""


def test_a_table_with_an_unknown_column_is_explained_in_chinese(
    web: Browse, tmp_path: Path
) -> None:
    table = tmp_path / "任务.csv"
    table.write_text("提示词,颜色\n一只猫,红\n", encoding="utf-8")
    page = web.login("dave", locale="zh-CN")
    page.get_by_role("tab", name="表格").click()
    web.console.allow("status of 422")
    page.locator("#table-file").set_input_files(table)
    issue = page.locator("#table-import-issues li")
    expect(issue.locator(".issue-text")).to_contain_text(
        "列“颜色”不是可识别的列。可用的列：prompt/提示词"
    )
    words = issue.locator("details")
    expect(words.locator("summary")).to_have_text("服务器原文")
    expect(words.locator("span")).to_be_hidden()
    words.locator("summary").click()
    expect(words.locator("span")).to_have_text(
        "column 颜色: is not a known column (use: prompt/提示词, negative_prompt/负面提示词, "
        "aspect_ratio/图片比例, resolution/分辨率, count/生成数量, filename/文件名, "
        "reference_images/参考图, seed/种子, provider/服务商, model/模型)"
    )
    shot(page, "compose-table-error-zh")


def _issues(page: Any, method: str, url: str, **body: Any) -> list[dict[str, str]]:
    answer = page.request.fetch(url, method=method, headers={"X-CSRF-Token": csrf(page)}, **body)
    found = answer.json()
    issues: list[dict[str, str]] = found.get("skipped") or found["error"]["issues"]
    return issues


def test_common_server_issues_are_rebuilt_in_chinese(web: Browse) -> None:
    page = web.login("frank", locale="zh-CN")  # spends nothing elsewhere: 1,000 credits
    rows = [{"prompt": "", "seed": "x"}, {"prompt": "猫", "aspect_ratio": "5:7", "count": 99}]
    issues = _issues(page, "POST", "/api/batches?dry_run=true", data={"rows": rows})
    issues += _issues(page, "POST", "/api/batches?dry_run=true", data={"prompt": " "})
    issues += _issues(
        page,
        "POST",
        "/api/batches?dry_run=true",
        data={"rows": [{"prompt": "猫", "reference_images": "nothing.png"}]},
    )
    issues += _issues(
        page,
        "POST",
        "/api/batches?dry_run=true",
        data={"prompt": "猫", "reference_images": ["asset:99999"]},
    )
    for name, content in (("notes.txt", b"hello"), ("big.png", b"\x89PNG" + b"0" * 600_000)):
        upload = {"files": {"name": name, "mimeType": "image/png", "buffer": content}}
        issues += _issues(page, "POST", "/api/assets", multipart=upload)
    assert page.evaluate(TRANSLATE, issues) == [
        "第 1 行“种子”列：“x”不是整数。",
        "第 1 行：提示词为空，每一行都需要提示词。",
        "第 2 行“图片比例”列：“5:7”不是有效的比例，可用：1:1 2:3 3:2 3:4 4:3 16:9 9:16 21:9。",
        "第 2 行“生成数量”列：数量 99 超出范围，请填 1 到 10。",
        "提示词为空：请填写提示词。",
        "第 1 行：未知的参考图“nothing.png”，请从图库中选择，或填写 http(s) 链接。",
        "未知的参考图“asset:99999”：请从图库中选择，或填写 http(s) 链接。",
        "“notes.txt”不是可用的图片：请使用 JPEG、PNG、WebP、GIF、BMP 或 HEIC。",
        "“big.png”大小为 0.6 MB，超过 0.5 MB 的上限：请缩小或重新压缩（例如另存为 JPEG）。",
    ]

    web.console.allow("status of 402")
    huge = {"prompt": "{a}", "variables": {"a": [str(n) for n in range(30)]}, "count": 100}
    answer = page.request.post("/api/batches", data=huge, headers={"X-CSRF-Token": csrf(page)})
    assert answer.status == 402
    title = page.evaluate(TITLE, {"status": 402, "body": answer.json()})
    assert title == "积分不足：需要 1,500，现有 1,000，还差 500。"
    too_many = {
        "error": {
            "type": "TooLarge",
            "code": "too_many_files",
            "params": {"max": 50},
            "message": "too many files: at most 50 per request",
        }
    }
    assert page.evaluate(TITLE, {"status": 413, "body": too_many}) == "文件太多：一次最多 50 个。"
