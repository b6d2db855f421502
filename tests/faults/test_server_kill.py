"""``kill -9`` of the server while a job runs, twice, then SIGTERM with a hanging node.

With ``--requeue-interrupted`` the job that was running is re-queued after the first kill and
runs again; after the second it is marked lost and never runs again (the crash count is kept in
the job store). The orphaned worker exits when its server dies, the job queued behind the
poisoned one completes, and SIGTERM stops the server within the cancel grace plus a few seconds
although its node never checks for cancellation (the job goes back to the queue).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from executor.jobs import JobStatus
from server.job_store import JobStore
from tests.faults.fault_pack import fault, runs
from tests.faults.real_server import RealServer, gone, wait_until
from tests.server.slow_pack import sleep_prompt

GRACE = 1.0
OPTIONS = ("--requeue-interrupted", "--cancel-grace", str(GRACE))


def kill_while_running(server: RealServer, output: Path, hang_runs: int) -> None:
    """Wait until the hanging job runs for the ``hang_runs``-th time, then kill -9 the server
    and check that its worker follows it."""
    wait_until(lambda: len(runs(output, "Hang")) == hang_runs)
    workers = server.workers()
    assert len(workers) == 1, workers
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert gone(workers[0]), "the worker outlived its server"


def test_kill_9_of_the_server_reruns_a_job_at_most_once(tmp_path: Path) -> None:
    servers: list[RealServer] = []
    try:
        run_scenario(tmp_path, servers)
    finally:
        for server in servers:
            server.kill()


def run_scenario(base: Path, servers: list[RealServer]) -> None:
    output = base / "output"

    def start() -> RealServer:
        servers.append(RealServer(base, *OPTIONS))
        return servers[-1]

    server = start()
    server.queue(fault("Hang", seconds=600, token=1), "poison")
    server.queue(sleep_prompt(7, 10), "next")
    kill_while_running(server, output, 1)

    server = start()  # re-queued once: it runs again
    kill_while_running(server, output, 2)

    server = start()  # twice: never again
    jobs = server.wait_for(lambda j: j["next"]["status"] == "completed")
    assert jobs["poison"]["status"] == "failed"
    error = jobs["poison"]["execution_error"]
    assert error["exception_type"] == "ServerStopped" and "2 crashes" in error["exception_message"]
    assert len(runs(output, "Hang")) == 2

    server.queue(fault("Hang", seconds=600, token=2), "stuck")
    wait_until(lambda: len(runs(output, "Hang")) == 3)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    # the grace, the kill, then the interpreter's own teardown (seconds on a loaded machine)
    assert time.monotonic() - started < GRACE + 10
    store = JobStore(base / "jobs.db")
    try:  # interrupted by the shutdown (its worker killed): back in the queue, no crash
        stuck = store.get("stuck")
        assert stuck is not None and stuck.status is JobStatus.PENDING
        assert store.crashes("stuck") == 0
    finally:
        store.close()
