"""Faults of the server's own process and of its job database, on a real ``latentgraph serve``:
``kill -9`` while it writes a job's end to the history and in the middle of an upload, a
damaged database and a database deleted from under its write-ahead log at start. Those three
run their nodes ``--in-process`` (one process to start: the faults are the server's own)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from server.job_store import JobStore
from server.store_integrity import check_store
from server.uploads import SPOOL_DIR
from tests.faults.fault_pack import fault, runs
from tests.faults.real_server import ROOT, RealServer, gone, serve_command, wait_until
from tests.faults.server_faults import KILL_IN_FINISH
from tests.server.slow_pack import sleep_prompt
from tests.server.store_damage import not_a_database

SERVER_FAULTS = ("--node-pack", "tests.faults.server_faults:register")


def killed(server: RealServer) -> None:
    """Wait for the server to die by SIGKILL (its own or ours), and its worker with it."""
    workers = server.workers()
    assert server.process.wait(timeout=60) == -signal.SIGKILL
    assert all(gone(pid) for pid in workers), "the worker outlived its server"


def refused_start(base: Path, *options: str) -> tuple[int, str]:
    """(exit status, stdout) of a ``serve`` that must not start."""
    done = subprocess.run(serve_command(base, *options), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT),
                                                       "LATENTGRAPH_TOKEN": "", "PATH": ""})
    assert "serving on" not in done.stdout, done.stdout
    return done.returncode, done.stdout


def test_kill_9_while_writing_history(tmp_path: Path) -> None:
    servers: list[RealServer] = []
    try:
        marker = tmp_path / "killed-in-finish"
        servers.append(RealServer(tmp_path, "--requeue-interrupted", *SERVER_FAULTS,
                                  env={KILL_IN_FINISH: f"victim:{marker}"}))
        servers[0].queue(fault("Hang", seconds=0, token=1), "victim")
        servers[0].queue(sleep_prompt(1, 10), "next")
        killed(servers[0])
        assert marker.exists() and len(runs(tmp_path / "output", "Hang")) == 1
        assert check_store(tmp_path / "jobs.db", full=True) == []  # a torn write: rolled back
        servers.append(RealServer(tmp_path, "--requeue-interrupted"))
        servers[1].wait_for(lambda j: all(j[k]["status"] == "completed"
                                          for k in ("victim", "next")))
        assert servers[1].call("/api/jobs/victim")["outputs"]["1"] == {"text": ["woke up"]}
        assert len(runs(tmp_path / "output", "Hang")) == 2  # run again once, as configured
        servers[1].stop(signal.SIGTERM)
        store = JobStore(tmp_path / "jobs.db")
        try:
            assert store.crashes("victim") == 1 and store.crashes("next") == 0
        finally:
            store.close()
    finally:
        for server in servers:
            server.kill()


def start_upload(url: str, size: int, sent: int) -> socket.socket:
    """An upload of ``size`` bytes of which only the first ``sent`` are sent (left open)."""
    host, port = url.removeprefix("http://").split(":")
    head = (b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(b"POST /upload/image HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                       b"Content-Type: multipart/form-data; boundary=b\r\n"
                       b"Content-Length: " + str(len(head) + size).encode() + b"\r\n\r\n"
                       + head + b"\x89PNG" + b"x" * (sent - 4))
    return connection


def test_kill_9_mid_upload(tmp_path: Path) -> None:
    servers = [RealServer(tmp_path, "--in-process")]
    try:
        connection = start_upload(servers[0].url, 50 * 2**20, 8 * 2**20)
        spool = tmp_path / SPOOL_DIR
        wait_until(lambda: any(f.stat().st_size > 2**20 for f in spool.glob("*")))
        servers[0].process.send_signal(signal.SIGKILL)
        killed(servers[0])
        connection.close()
        assert list(spool.iterdir())  # the partial upload is left behind …
        servers.append(RealServer(tmp_path, "--in-process"))
        assert list(spool.iterdir()) == []  # … and removed at the next start
        assert list((tmp_path / "input").rglob("*.png")) == []  # never became an input
        servers[1].queue(sleep_prompt(1, 10), "after")
        jobs = servers[1].wait_for(lambda j: j["after"]["status"] != "pending")
        assert servers[1].wait_for(lambda j: j["after"]["status"] == "completed")
        assert "after" in jobs
    finally:
        for server in servers:
            server.kill()


def test_a_damaged_database_stops_start_up_until_told(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    not_a_database(path)
    status, out = refused_start(tmp_path, "--in-process")
    (copy,) = tmp_path.glob("jobs.db.damaged-*")
    assert status == 3 and str(path) in out and str(copy) in out, out
    assert "--start-empty-if-damaged" in out and "Traceback" not in out
    server = RealServer(tmp_path, "--start-empty-if-damaged", "--in-process")
    try:
        assert server.jobs() == {}
        server.queue(sleep_prompt(1, 10), "fresh")
        server.wait_for(lambda j: j["fresh"]["status"] == "completed")
        assert copy.exists() and check_store(path) == []
    finally:
        server.kill()


def test_a_database_deleted_under_its_wal_is_refused_not_emptied(tmp_path: Path) -> None:
    servers = [RealServer(tmp_path, "--in-process")]
    try:
        servers[0].queue(fault("Hang", seconds=600, token=1), "running")
        servers[0].queue(sleep_prompt(1, 10), "waiting")  # both only in the WAL: not idle yet
        wait_until(lambda: len(runs(tmp_path / "output", "Hang")) == 1)
        servers[0].process.send_signal(signal.SIGKILL)
        killed(servers[0])
        path = tmp_path / "jobs.db"
        path.rename(tmp_path / "moved.db")
        status, out = refused_start(tmp_path, "--in-process")
        assert status == 3 and "jobs.db-wal" in out and "put the database file back" in out, out
        assert (tmp_path / "jobs.db-wal").stat().st_size > 0  # not deleted by the attempt
        (tmp_path / "moved.db").rename(path)
        servers.append(RealServer(tmp_path, "--in-process"))
        jobs = servers[1].wait_for(lambda j: j["waiting"]["status"] == "completed")
        assert jobs["running"]["status"] == "failed"  # marked lost, not gone
        assert jobs["running"]["execution_error"]["exception_type"] == "ServerStopped"
    finally:
        for server in servers:
            server.kill()
