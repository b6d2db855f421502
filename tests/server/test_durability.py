"""Crash and restart with a real process (the one place with sleeps): kill -9, then SIGTERM.

The queue's durability, with nodes in the server's process (``--in-process``: one process to
kill; ``tests/faults/test_server_kill.py`` kills a server that runs its nodes in a worker).
20 slow jobs are queued; the server is killed mid-run and restarted on the same base folder.
Every job is accounted for (finished before the kill, lost while running, or resumed), pending
jobs resume in their order, and a job queued after the restart runs after them. Then SIGTERM
stops the server gracefully: the running job goes back to the queue and runs on the next start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.server.slow_pack import sleep_prompt

ROOT = Path(__file__).resolve().parents[2]
JOBS, SLEEP_MS = 20, 150


class Server:
    def __init__(self, base: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LATENTGRAPH_TOKEN": ""}
        self.log = (base / "server.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "latentgraph.cli", "serve", "--port", "0", "--base-dir",
             str(base), "--node-pack", "tests.server.slow_pack:register", "--in-process"],
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

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {j["id"]: j for j in self.call("/api/jobs?sort_order=asc")["jobs"]}

    def wait_for(self, done: Any, timeout: float = 60) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs()
            if done(jobs):
                return jobs
            time.sleep(0.05)
        raise AssertionError(f"timed out; jobs: {self.jobs()}")

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        status = self.process.wait(timeout=30)
        self.log.close()
        return status


def count(jobs: dict[str, dict[str, Any]], status: str) -> int:
    return sum(1 for j in jobs.values() if j["status"] == status)


def test_kill_restart_and_graceful_stop(tmp_path: Path) -> None:
    server = Server(tmp_path)
    ids = [server.call("/prompt", {"prompt": sleep_prompt(i, SLEEP_MS),
                                   "prompt_id": f"job-{i:02d}"})["prompt_id"]
           for i in range(JOBS)]
    server.wait_for(lambda j: count(j, "completed") >= 3 and count(j, "in_progress") == 1)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL

    server = Server(tmp_path)
    after = server.call("/prompt", {"prompt": sleep_prompt(99, 10), "prompt_id": "late"})
    jobs = server.wait_for(lambda j: all(x["status"] not in ("pending", "in_progress")
                                         for x in j.values()))
    assert set(jobs) == {*ids, "late"}
    lost = [i for i in ids if jobs[i]["status"] == "failed"]
    assert len(lost) == 1, jobs
    assert jobs[lost[0]]["execution_error"]["exception_type"] == "ServerStopped"
    assert all(jobs[i]["status"] == "completed" for i in ids if i not in lost)
    ran = sorted((j["execution_start_time"], i) for i, j in jobs.items() if i not in lost)
    assert [i for _, i in ran] == [i for i in ids if i not in lost] + ["late"]
    assert jobs["late"]["priority"] > max(jobs[i]["priority"] for i in ids)
    assert after["number"] == jobs["late"]["priority"]
    stats = server.call("/system_stats")["system"]
    assert stats["epoch"] == 2

    ids2 = [server.call("/prompt", {"prompt": sleep_prompt(200 + i, 300),
                                    "prompt_id": f"term-{i}"})["prompt_id"] for i in range(3)]
    server.wait_for(lambda j: j["term-0"]["status"] == "in_progress")
    assert server.stop(signal.SIGTERM) == 0
    server = Server(tmp_path)
    jobs = server.wait_for(lambda j: all(j[i]["status"] == "completed" for i in ids2))
    assert jobs["term-0"]["status"] == "completed"  # re-queued on SIGTERM, not lost
    assert server.stop(signal.SIGTERM) == 0
