"""`imagebatch users`: the accounts of the server, managed from its host (no login needed: who
can run this can read the database anyway)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from imagebatch.cli.opening import full_app
from imagebatch.errors import ConfigurationError, ImagebatchError

if TYPE_CHECKING:  # the app is built (and imported) only when a command runs
    from imagebatch.app import App
    from imagebatch.domain.accounts import User
    from imagebatch.store.users import Ended

users_cli = typer.Typer(help="User accounts of the server.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

Name = Annotated[str, typer.Argument(help="The user's name.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _run(work: Callable[[App], Awaitable[None]]) -> None:
    """Run `work` against the configured database; our errors end with exit code 2."""
    import asyncio  # here, not above: `imagebatch --help` does not need it

    async def body() -> None:
        async with full_app() as app:
            await work(app)

    try:
        asyncio.run(body())
    except ConfigurationError:
        raise  # main() prints it, as for every command
    except ImagebatchError as error:
        err.print(f"[red]Error:[/] {error.message}")
        raise typer.Exit(2) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import secrets  # here: every command imports this module, few make a password

    return secrets.token_urlsafe(12)


def _ended(ended: Ended) -> str:
    return f"{ended.sessions} session(s) ended, {ended.tokens} API token(s) revoked"


@users_cli.command("create")
def create_user(
    name: Name,
    admin: Annotated[bool, typer.Option("--admin", help="Make an administrator.")] = False,
    password_stdin: PasswordStdin = False,
    credits: Annotated[
        float | None, typer.Option(min=0, help="Credits to start with (default: configured).")
    ] = None,
) -> None:
    """Create a user; the password is generated and printed unless given on stdin."""
    password = _read_password(password_stdin)

    async def work(app: App) -> None:
        from imagebatch.domain.accounts import Role
        from imagebatch.domain.credits import to_micros

        role = Role.ADMIN if admin else Role.USER
        amount = None if credits is None else to_micros(credits)
        user = await app.accounts.create_user(name, password, role, amount)
        console.print(f"Created {user.role.value} {user.name!r}.")
        if not password_stdin:
            console.print(f"Password: [yellow]{password}[/] (shown once)")

    _run(work)


@users_cli.command("list")
def list_users() -> None:
    """List users with their role, state and credits."""

    async def work(app: App) -> None:
        for user in await app.users.everyone():
            state = "disabled" if user.disabled else "active"
            console.print(f"{user.id:>4}  {user.name:<24} {user.role.value:<6} {state}")

    _run(work)


@users_cli.command("reset-password")
def reset_password(name: Name, password_stdin: PasswordStdin = False) -> None:
    """Give a user a new password (generated and printed unless given on stdin); their
    sessions end and their API tokens are revoked."""
    password = _read_password(password_stdin)

    async def work(app: App) -> None:
        user = await app.users.by_name(name)
        ended = await app.accounts.set_password(user.id, password)
        console.print(f"New password for {user.name!r}; {_ended(ended)}.")
        if not password_stdin:
            console.print(f"Password: [yellow]{password}[/] (shown once)")

    _run(work)


@users_cli.command("disable")
def disable(name: Name) -> None:
    """Disable a user: they cannot log in, their sessions end, their API tokens are revoked."""
    _run(_set_disabled(name, True))


@users_cli.command("enable")
def enable(name: Name) -> None:
    """Enable a disabled user again (their old API tokens stay revoked)."""
    _run(_set_disabled(name, False))


def _set_disabled(name: str, disabled: bool) -> Callable[[App], Awaitable[None]]:
    async def work(app: App) -> None:
        user: User = await app.users.by_name(name)
        user, ended = await app.accounts.update_user(user.id, disabled=disabled)
        state = "disabled" if user.disabled else "enabled"
        console.print(f"{user.name!r} {state}" + (f"; {_ended(ended)}." if disabled else "."))

    return work


@users_cli.command("unlock")
def unlock(name: Name) -> None:
    """Forget a user's failed logins from every address: when guessing from many addresses
    paused their logins (the per-user ceiling) and the cause is dealt with."""

    async def work(app: App) -> None:
        user = await app.users.by_name(name)
        cleared = await app.accounts.unlock(user.name)
        console.print(f"{user.name!r} unlocked; {cleared} failed login(s) forgotten.")

    _run(work)
