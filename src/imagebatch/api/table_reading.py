"""Uploaded tables are parsed in a child process: never on the event loop, and stopped at
`parse_timeout_seconds`.

A thread cannot be stopped, and a crafted file can keep a parser busy, or growing, for as
long as it likes; a child process is killed at the time limit and its address space is
capped, so the worst a file can do is fail its own request. Children fork from a
forkserver that has already imported the parser: a parse starts in milliseconds. At most
`PARALLEL_PARSES` run at once; further uploads wait their turn.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import resource
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, TypeVar

from imagebatch.domain.sheet_readers import SheetLimits
from imagebatch.domain.sheets import parse_table, table_rows, table_rows_and_issues
from imagebatch.domain.specs import TaskSpec
from imagebatch.errors import InputError, InputIssue

if TYPE_CHECKING:  # a child imports this module: it stays as light as the parser
    from imagebatch.app import App
    from imagebatch.engine.runtime import RuntimeSettings

T = TypeVar("T")
PARALLEL_PARSES = 2
#: address space a parsing child may use: a reader that wants more fails, the server stays
CHILD_MEMORY_BYTES = 2 * 1024**3


def sheet_limits(app: App, runtime: RuntimeSettings) -> SheetLimits:
    return SheetLimits(
        max_rows=runtime.max_tasks_per_batch, max_prompt_chars=app.settings.max_prompt_chars
    )


async def parse_uploaded_table(
    app: App, runtime: RuntimeSettings, data: bytes, filename: str
) -> list[TaskSpec]:
    """`parse_table` for a file a client sent (POST /api/batches with a table)."""
    limits = sheet_limits(app, runtime)
    timeout = app.settings.parse_timeout_seconds
    return await run_isolated(parse_table, (data, filename, limits), timeout, filename)


async def uploaded_table_rows(
    app: App, runtime: RuntimeSettings, data: bytes, filename: str, partial: bool = False
) -> tuple[list[dict[str, str]], list[InputIssue]]:
    """`table_rows` for a file a client sent (POST /api/tables/parse); `partial`: rows
    with problems come back too, beside their issues (`table_rows_and_issues`)."""
    limits = sheet_limits(app, runtime)
    timeout = app.settings.parse_timeout_seconds
    if partial:
        reader = table_rows_and_issues
        return await run_isolated(reader, (data, filename, limits), timeout, filename)
    rows = await run_isolated(table_rows, (data, filename, limits), timeout, filename)
    return rows, []


async def run_isolated(
    func: Callable[..., T], args: tuple[Any, ...], timeout: float, where: str
) -> T:
    """`func(*args)` in a child process; its InputError is raised here, as are a timeout
    and a child that died (out of memory) as InputErrors about `where`."""
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(
        _waiters(), _run_child, func, args, timeout, CHILD_MEMORY_BYTES
    )
    match outcome:
        case ("ok", value):
            return value  # type: ignore[no-any-return]
        case ("input", issues, summary):
            raise InputError([InputIssue(*issue) for issue in issues], summary)
        case ("timeout",):
            raise InputError(
                InputIssue(
                    where,
                    f"took longer than {timeout:g} s to read",
                    "save it again with only the task sheet, or split it into smaller tables",
                    "table_timeout",
                    {"name": where, "seconds": f"{timeout:g}"},
                )
            )
    raise InputError(
        InputIssue(
            where,
            "could not be read (it needs too much memory)",
            "split it or simplify it",
            "table_memory",
            {"name": where},
        )
    )


@functools.cache
def _waiters() -> ThreadPoolExecutor:
    """The threads that wait for the children; their number bounds the parses at once."""
    return ThreadPoolExecutor(PARALLEL_PARSES, thread_name_prefix="table-parse")


@functools.cache
def _context() -> Any:
    """A forkserver that has imported what a child needs. A child runs the server's main
    script again (`imagebatch` imports the whole CLI: 1 s a parse), and `__main__` in the
    preload list is ignored before Python 3.14: so every imagebatch module loaded here is
    preloaded, and the script's imports find them already done (a parse starts in ~10 ms)."""
    context = multiprocessing.get_context("forkserver")
    loaded = sorted(name for name in sys.modules if name.startswith("imagebatch."))
    # openpyxl too: the readers import it only when an XLSX comes (the CLI starts without it)
    context.set_forkserver_preload([__name__, *loaded, "openpyxl"])
    return context


def _run_child(
    func: Callable[..., Any], args: tuple[Any, ...], timeout: float, memory: int
) -> tuple[Any, ...]:
    context = _context()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, func, args, memory), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            return ("timeout",)
        return tuple(receive.recv())
    except EOFError:  # the child died without an answer: killed for its memory
        return ("died",)
    finally:
        child.kill()
        child.join()
        receive.close()


def _child(send: Connection, func: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        outcome: tuple[Any, ...] = ("ok", func(*args))
    except InputError as error:
        # sent as plain data: InputError does not survive pickling with its issues
        issues = [(i.where, i.problem, i.hint, i.code, dict(i.params)) for i in error.issues]
        outcome = ("input", issues, error.message.split("\n", 1)[0])
    except MemoryError:
        outcome = ("died",)
    send.send(outcome)
    send.close()
