"""``latentgraph serve`` as a real process (with its worker process), for tests that kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACK = "tests.faults.fault_pack:register"


class RealServer:
    def __init__(self, base: Path, *options: str) -> None:
        self.base = base
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LATENTGRAPH_TOKEN": ""}
        self.log = (base / "server.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "latentgraph.cli", "serve", "--port", "0", "--base-dir",
             str(base), "--node-pack", PACK, *options],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the URL is the first line on stdout
        assert "serving on" in line, (line, (base / "server.log").read_text())
        self.url = line.split("serving on ")[1].strip().rstrip("/")

    def call(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(self.url + path, data=data),
                                    timeout=20) as response:
            return json.loads(response.read() or b"null")

    def queue(self, prompt: dict[str, Any], prompt_id: str) -> None:
        self.call("/prompt", {"prompt": prompt, "prompt_id": prompt_id})

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {j["id"]: j for j in self.call("/api/jobs?sort_order=asc")["jobs"]}

    def wait_for(self, done: Callable[[dict[str, dict[str, Any]]], bool], timeout: float = 60
                 ) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs()
            if done(jobs):
                return jobs
            time.sleep(0.05)
        raise AssertionError(f"timed out; jobs: {self.jobs()}")

    def workers(self) -> list[int]:
        """The pids of this server's worker processes (not multiprocessing's tracker)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if parent == self.process.pid and b"spawn_main" in command:
                found.append(int(stat.parent.name))
        return found

    def kill(self) -> None:
        """Clean-up after a failed test: the server and its workers, at once."""
        for pid in self.workers():
            os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self, sig: int, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        status = self.process.wait(timeout=timeout)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()
        return status


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether process ``pid`` has ended (a zombie counts) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def wait_until(done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
