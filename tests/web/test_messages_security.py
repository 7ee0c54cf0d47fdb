"""The hardening's new server messages on a Chinese page: a table too wide or too long, a
prompt over the length limit, a row naming an unknown provider, a refused reference URL, a
body over the size limit and the login throttles are shown in Chinese (the server's words one
click away), never as an English sentence. The errors come from the live server where a page
can provoke them cheaply, else from the server's own code (the same text, not a copy)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from imagebatch.api.errors import IssueOut, error_body
from imagebatch.api.table_reading import run_isolated
from imagebatch.domain.specs import prompt_issue
from imagebatch.engine.accounts.service import _THROTTLED
from imagebatch.engine.service import _provider_issue
from imagebatch.errors import InputError, InputIssue, TooManyAttempts
from imagebatch.store.logins import Scope
from tests.flat_requests import task_spec
from tests.web.conftest import MAX_PROMPT_CHARS, Browse, csrf, shot

TRANSLATE = """async (issues) => {
  const m = await import("/static/js/lib/messages.js");
  return issues.map((issue) => m.translateIssue(issue));
}"""
TITLE = """async (body) => {
  const { ApiError, errorTitle } = await import("/static/js/lib/api.js");
  return errorTitle(new ApiError(body.status, body.body));
}"""
UNCONFIGURED = (
    "服务商“openai”在本服务器上尚未配置：请联系管理员，或在账户页面保存你自己的该服务商 API 密钥。"
)
#: an English sentence: three Latin words in a row (names and URLs in a message are fine)
#: the prompt limit as the Chinese pages write it, and one character over it
LIMIT, OVER = f"{MAX_PROMPT_CHARS:,}", f"{MAX_PROMPT_CHARS + 1:,}"
ENGLISH = re.compile(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")


def _issues(page: Any, url: str, **body: Any) -> list[dict[str, str]]:
    answer = page.request.post(url, headers={"X-CSRF-Token": csrf(page)}, **body)
    assert answer.status == 422, answer.text()
    issues: list[dict[str, str]] = answer.json()["error"]["issues"]
    return issues


def _chinese(texts: list[str | None]) -> list[str]:
    """The texts, after checking that none is missing or an English sentence."""
    for text in texts:
        assert text is not None and not ENGLISH.search(text), text
    return [text for text in texts if text is not None]


def test_a_table_with_too_many_columns_is_explained_in_chinese(web: Browse, tmp_path: Path) -> None:
    table = tmp_path / "宽表.csv"
    header = ",".join(["提示词", *(f"备注{n}" for n in range(1, 70))])
    table.write_text(f"{header}\n{'一只猫,' * 69}x\n", encoding="utf-8")
    page = web.login("heidi", locale="zh-CN")
    page.get_by_role("tab", name="表格").click()
    web.console.allow("status of 422")
    page.locator("#table-file").set_input_files(table)
    issue = page.locator("#table-import-issues li")
    expect(issue.locator(".issue-text")).to_have_text(
        "“宽表.csv”超过 64 列：请只保留任务所需的列。"
    )
    issue.locator("summary").click()
    expect(issue.locator("details span")).to_have_text(
        "宽表.csv, header: has more than 64 columns (keep the task columns only (at most 64))"
    )
    shot(page, "compose-table-too-wide-zh")


def test_new_input_issues_of_the_live_server_are_rebuilt_in_chinese(web: Browse) -> None:
    page = web.login("heidi", locale="zh-CN")
    dry = "/api/batches?dry_run=true"
    long = "猫" * (MAX_PROMPT_CHARS + 1)  # the web server's own limit, not the default
    issues = _issues(page, dry, data={"prompt": long})
    issues += _issues(page, dry, data={"rows": [{"prompt": "狗"}, {"prompt": long}]})
    issues += _issues(page, dry, data={"prompt": "{a}", "variables": {"a": ["猫", long]}})
    rows = [{"prompt": "猫", "provider": "nope"}] * 3
    issues += _issues(page, dry, data={"rows": rows})
    local = {"prompt": "猫", "reference_images": "http://127.0.0.1/x.png"}
    issues += _issues(page, "/api/batches", data={"rows": [local]})  # fetched only to run
    unknown_host = {"prompt": "猫", "reference_images": "http://no-such-host.invalid/x.png"}
    issues += _issues(page, "/api/batches", data={"rows": [unknown_host]})
    table = "prompt\n" + "猫\n" * 10_001
    upload = {"table": {"name": "长表.csv", "mimeType": "text/csv", "buffer": table.encode()}}
    issues += _issues(page, "/api/tables/parse", multipart=upload)
    assert _chinese(page.evaluate(TRANSLATE, issues)) == [
        f"提示词有 {OVER} 个字符，超过 {LIMIT} 个的上限：请缩短。",
        f"第 2 行：提示词有 {OVER} 个字符，超过 {LIMIT} 个的上限：请缩短。",
        f"第 2 个提示词（代入变量后）有 {OVER} 个字符，超过 {LIMIT} 个的上限：请缩短模板或变量值。",
        "第 1 行：服务商“nope”不存在，可用：demo, openai。（另有 2 行也填写了它）",
        "第 1 行：“http://127.0.0.1/x.png”指向内网或本机地址（127.0.0.1）：请使用公网可访问的链接。",
        "第 1 行：找不到主机“no-such-host.invalid”：请检查链接。",
        "“长表.csv”的任务超过 10,000 行（一个批次的上限）：请拆分成多个表格。",
    ]


def _as_sent(issue: InputIssue) -> dict[str, Any]:
    """An issue as the API sends it to the page."""
    return IssueOut.of(issue).model_dump()


def _read_failures() -> list[dict[str, Any]]:
    """What the table reader says when a file takes too long or kills its reader (out of
    memory), from the real reader's process isolation."""

    async def failures() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for func, args in ((time.sleep, (5,)), (os._exit, (1,))):
            try:
                await run_isolated(func, args, 0.3, "大表.xlsx")
            except InputError as error:
                found += [_as_sent(issue) for issue in error.issues]
        return found

    # Playwright's synchronous API holds this thread's event loop: the reader gets its own.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, failures()).result()


def _never() -> Any:
    raise AssertionError("a prompt over the limit has an issue")


def test_reading_failures_and_provider_setup_are_rebuilt_in_chinese(web: Browse) -> None:
    page = web.page(locale="zh-CN")
    page.goto("/login")
    row = task_spec("猫", provider="openai", source="row 4")
    unconfigured = "set IMAGEBATCH_OPENAI_API_KEY (and IMAGEBATCH_OPENAI_BASE_URL if needed)"
    said, code = ("is not configured", unconfigured), "provider_unconfigured"
    params = {"provider": "openai"}
    issues = [
        *_read_failures(),
        _as_sent(_provider_issue("openai", [row], said, code=code, params=params)),
        _as_sent(_provider_issue("openai", [], said, code=code, params=params)),
        _as_sent(prompt_issue("猫" * 8_001, "prompt", 8_000) or _never()),  # a preset made it long
    ]
    assert len(issues) == 5, issues
    assert _chinese(page.evaluate(TRANSLATE, issues)) == [
        "读取“大表.xlsx”超过 0.3 秒：请只保留任务工作表后重新保存，或拆分成较小的表格。",
        "无法读取“大表.xlsx”：所需内存过多。请拆分或简化表格。",
        f"第 4 行：{UNCONFIGURED}",
        UNCONFIGURED,
        "提示词有 8,001 个字符，超过 8,000 个的上限：请缩短。",
    ]


def test_size_limits_and_login_throttles_have_chinese_headlines(web: Browse) -> None:
    page = web.login("heidi", locale="zh-CN")
    huge = {"prompt": "猫", "params": {"pad": "x" * 3_000_000}}
    answer = page.request.post("/api/batches", data=huge, headers={"X-CSRF-Token": csrf(page)})
    assert answer.status == 413, answer.text()
    title = page.evaluate(TITLE, {"status": 413, "body": answer.json()})
    assert title == "请求内容过大：一次最多 2 MB。请分几次提交较少的行或图片。"

    throttled = [
        {"status": 429, "body": error_body(_throttled(_THROTTLED[scope].code))} for scope in Scope
    ]
    titles = [page.evaluate(TITLE, body) for body in throttled]
    assert sorted(_chinese(titles)) == sorted(
        [
            "该用户从你的地址登录失败次数过多：请 15 分钟后再试（其他地址不受影响）。",
            "你的地址登录失败次数过多：请 15 分钟后再试。",
            "该用户从多个地址登录失败次数过多：登录已暂停 15 分钟，或直到管理员解锁该账户。",
        ]
    )


def _throttled(code: str) -> TooManyAttempts:
    return TooManyAttempts("(the server's words)", code=code, params={"minutes": 15})
