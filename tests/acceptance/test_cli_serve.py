"""`imagebatch serve` and `imagebatch users` as real processes."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.acceptance.conftest import Cli

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, cli: Cli, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imagebatch", "serve", "--port", str(self.port), *args],
            cwd=cli.cwd,
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("Uvicorn running" in line for line in self.lines):
            assert self.process.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            line = self.process.stdout.readline() if self.process.stdout else ""
            self.lines.append(line)

    def stop(self) -> bool:
        """SIGTERM; True if the server shut down gracefully (uvicorn then re-raises the
        signal, so the exit status is the signal's)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=40)
        self.lines.append(out)
        return self.process.returncode in (0, -signal.SIGTERM) and "Finished server" in out

    @property
    def output(self) -> str:
        return "".join(self.lines)


def test_first_start_prints_the_admin_password_once(cli: Cli) -> None:
    served = Served(cli)
    try:
        found = re.search(r"user 'admin' with password (\S+)", served.output)
        assert found, served.output
        password = found.group(1)
        with httpx.Client(base_url=served.url) as client:
            login = client.post("/api/auth/login", json={"name": "admin", "password": password})
            assert login.status_code == 200 and login.json()["user"]["role"] == "admin"
            assert client.get("/api/health").json()["status"] == "ok"
            assert client.get("/docs").status_code == 200
    finally:
        assert served.stop(), served.output
    again = Served(cli)
    try:
        assert "password" not in again.output
    finally:
        again.stop()


def test_sigterm_hands_running_tasks_back_to_the_queue(cli: Cli) -> None:
    cli.env["IMAGEBATCH_ADMIN_PASSWORD"] = "admin-password"
    cli.env["IMAGEBATCH_WORKER_GRACE_SECONDS"] = "0.5"  # the calls hang: no use waiting
    served = Served(cli)
    try:
        with httpx.Client(base_url=served.url) as client:
            login = client.post(
                "/api/auth/login", json={"name": "admin", "password": "admin-password"}
            )
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            created = client.post("/api/batches", json={"prompt": "[demo:hang] x", "count": 2})
            assert created.status_code == 201, created.text
            cli.wait_for(
                lambda: cli.query("select count(*) from tasks where status='running'") == [(2,)]
            )
    finally:
        assert served.stop(), served.output
    assert cli.query("select status, lease_owner from tasks") == [("pending", None)] * 2
    assert cli.query("select outcome from attempts") == [("released",)] * 2


def test_users_create_prints_or_reads_the_password(cli: Cli) -> None:
    made = cli.run("users", "create", "bob", "--admin")
    assert made.returncode == 0, made.stderr
    assert "Created admin 'bob'" in made.stdout and "Password:" in made.stdout
    piped = cli.run("users", "create", "carol", "--password-stdin", input="carols-password\n")
    assert piped.returncode == 0 and "Password:" not in piped.stdout
    short = cli.run("users", "create", "dave", "--password-stdin", input="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert cli.run("users", "create", "bob").returncode == 2  # taken
    listing = cli.run("users", "list")
    assert "bob" in listing.stdout and "carol" in listing.stdout and "dave" not in listing.stdout


def test_api_only_server_and_a_separate_worker(cli: Cli) -> None:
    cli.env["IMAGEBATCH_ADMIN_PASSWORD"] = "admin-password"
    cli.env["IMAGEBATCH_WORKER_GRACE_SECONDS"] = "0.5"
    served = Served(cli, "--no-workers")
    worker: subprocess.Popen[str] | None = None
    try:
        with httpx.Client(base_url=served.url) as client:
            login = client.post(
                "/api/auth/login", json={"name": "admin", "password": "admin-password"}
            )
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            batch = client.post("/api/batches", json={"prompt": "p", "count": 3}).json()["batch"]
            assert client.get("/api/health").json()["workers"] == {"in_process": 0, "live": 0}
            worker = subprocess.Popen(
                [sys.executable, "-m", "imagebatch", "worker", "--concurrency", "2"],
                cwd=cli.cwd,
                env=cli.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            cli.wait_for(
                lambda: (
                    cli.query(f"select status from batches where id={batch['id']}")
                    == [("completed",)]
                )
            )
            [listed] = client.get("/api/admin/workers").json()
            assert listed["live"] and listed["concurrency"] == 2 and listed["pid"] == worker.pid
            client.post("/api/batches", json={"prompt": "[demo:hang] x"})
            cli.wait_for(
                lambda: cli.query("select count(*) from tasks where status='running'") == [(1,)]
            )
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=30)
            assert worker.returncode == 0, out
            assert "stopped" in out
            assert cli.query("select status from tasks where status != 'succeeded'") == [
                ("pending",)
            ]
            [gone] = client.get("/api/admin/workers").json()
            assert not gone["live"] and gone["stopped_at"]
    finally:
        if worker and worker.poll() is None:
            worker.kill()
        served.stop()
