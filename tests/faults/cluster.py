"""A small imagebatch cluster in subprocesses, for fault tests: one API server
(`imagebatch serve --no-workers`) and any number of `imagebatch worker` processes, all on one
PostgreSQL database and one S3 bucket, each process logging to its own file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.acceptance.test_cli_serve import free_port
from tests.waiting import wait_until

#: marks the workers' database connections, so a test can cut exactly those
WORKER_APPLICATION = "imagebatch-fault-worker"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def ready(self) -> bool:
        """The worker says it started: its signal handlers are in place, it claims tasks."""
        return " started " in self.output()

    def kill(self) -> None:
        """kill -9: no clean-up of any kind, as when a machine dies."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)


@dataclass
class Cluster:
    env: dict[str, str]
    logs: Path
    database_url: str
    api: Process | None = None
    api_url: str = ""
    workers: list[Process] = field(default_factory=list)
    #: workers that ended without being told to (a robustness bug)
    died: list[Process] = field(default_factory=list)
    #: every worker ever started, killed ones included
    every_worker: list[Process] = field(default_factory=list)
    started = 0

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "imagebatch", *args],
                cwd=self.logs,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Process(name, popen, log)

    def start_api(self) -> None:
        port = free_port()
        self.started += 1
        self.api = self._spawn(
            f"api-{self.started}", ["serve", "--no-workers", "--port", str(port)], self.env
        )
        self.api_url = f"http://127.0.0.1:{port}"
        wait_until(
            self._api_answers,
            awaiting="the API server to answer /api/health",
            timeout=30,
            every=0.1,
            explain=lambda: self.api.output() if self.api else "",
        )

    def _api_answers(self) -> bool:
        assert self.api is not None and self.api.popen.poll() is None, (
            self.api and self.api.output()
        )
        try:
            return httpx.get(f"{self.api_url}/api/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def restart_api(self) -> None:
        assert self.api is not None
        code = self.api.terminate()
        assert code in (0, -signal.SIGTERM), self.api.output()
        self.start_api()

    def start_worker(self) -> None:
        self.started += 1
        env = {**self.env, "IMAGEBATCH_DATABASE_URL": worker_url(self.database_url)}
        self.workers.append(self._spawn(f"worker-{self.started}", ["worker"], env))
        self.every_worker.append(self.workers[-1])

    def kill_random_worker(self, rng: random.Random, busy: set[int]) -> Process | None:
        """kill -9 a random worker among those running tasks (their process ids: `busy`),
        else among those that started (None: none has yet). Killing one still starting, or
        one the others left without work, would test nothing."""
        ready = [w for w in self.workers if w.ready]
        running = [w for w in ready if w.popen.pid in busy]
        if not ready:
            return None
        victim = rng.choice(running or ready)
        self.workers.remove(victim)
        victim.kill()
        return victim

    def check_workers_alive(self) -> None:
        """Move workers that exited on their own to `died`."""
        for process in list(self.workers):
            if process.popen.poll() is not None:
                self.workers.remove(process)
                self.died.append(process)

    def stop(self) -> list[tuple[Process, int]]:
        """SIGTERM every process; returns the workers with their exit codes. A worker is
        stopped only once it started (before, SIGTERM just ends the interpreter)."""
        for w in self.workers:
            wait_until(
                lambda w=w: w.ready or w.popen.poll() is not None,
                awaiting=f"{w.name} to start or end",
                timeout=30,
                every=0.1,
                explain=w.output,
            )
        ended = [(w, w.terminate()) for w in self.workers]
        self.workers.clear()
        if self.api is not None and self.api.popen.poll() is None:
            self.api.terminate()
        return ended

    def kill_all(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            if process.popen.poll() is None:
                process.kill()


def worker_url(url: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}application_name={WORKER_APPLICATION}"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """Our environment without any IMAGEBATCH_ setting of the developer's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBATCH_")}
    return {**env, **extra}
