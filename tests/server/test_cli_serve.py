"""``latentgraph serve`` refusals that happen before anything listens (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentgraph import cli_serve
from latentgraph.cli import main
from server import security
from tests.server.stub_pack import server_registry


def test_non_loopback_bind_without_token_is_refused_at_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(security.TOKEN_ENV, raising=False)
    status = main(["serve", "--host", "0.0.0.0", "--base-dir", str(tmp_path)],
                  registry=server_registry())
    assert status == 2
    assert "refusing to listen on '0.0.0.0' without a token" in capsys.readouterr().out


def test_token_file_must_hold_a_long_token(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("short\n")
    status = main(["serve", "--host", "0.0.0.0", "--base-dir", str(tmp_path),
                   "--token-file", str(token_file)], registry=server_registry())
    assert status == 2
    assert "at least 16 characters" in capsys.readouterr().out


def test_bad_node_pack_spec_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    status = main(["serve", "--base-dir", str(tmp_path), "--node-pack", "pack:"],
                  registry=server_registry())
    assert status == 2
    assert "MODULE or MODULE:FUNCTION" in capsys.readouterr().out


def test_token_sources(tmp_path: Path) -> None:
    assert cli_serve.TOKEN_ENV == security.TOKEN_ENV
    assert security.load_token(None, {}) is None
    assert security.load_token(None, {security.TOKEN_ENV: "x" * 16}) == "x" * 16
    token_file = tmp_path / "token"
    token_file.write_text("y" * 20 + "\n")
    assert security.load_token(token_file, {}) == "y" * 20


def test_the_cache_is_a_byte_budget_by_default_and_sized_by_cache_bytes(tmp_path: Path) -> None:
    from executor.cache import ByteBudgetCache
    from latentgraph.cli import _parser
    from server.state import BACKEND

    def cache_of(*extra: str) -> object:
        args = _parser().parse_args(["serve", "--base-dir", str(tmp_path), *extra])
        settings = cli_serve._checked_settings(args)
        app, _ = cli_serve._build_app(args, settings, server_registry())
        return app[BACKEND].cache  # type: ignore[attr-defined]

    default = cache_of()
    assert isinstance(default, ByteBudgetCache) and default.max_bytes > 0
    sized = cache_of("--cache-bytes", "512M")
    assert isinstance(sized, ByteBudgetCache) and sized.max_bytes == 512 * 2**20
    assert cli_serve.parse_size("8G") == 8 * 2**30 and cli_serve.parse_size("1000") == 1000
    assert cli_serve.parse_size("1.5GiB") == int(1.5 * 2**30)
    with pytest.raises(Exception, match="expected a size"):
        cli_serve.parse_size("lots")


def test_the_insecure_bind_refusal_imports_no_engine(tmp_path: Path) -> None:
    """Refused before torch, the node packs or the engine are imported: immediate."""
    import subprocess
    import sys

    code = ("import sys; from latentgraph.cli import main; "
            f"status = main(['serve', '--host', '0.0.0.0', '--base-dir', {str(tmp_path)!r}]); "
            "print(status, 'torch' in sys.modules, 'executor.engine' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    assert "refusing to listen on '0.0.0.0'" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "2 False False"


def test_serving_without_the_ray_backend_imports_no_ray(tmp_path: Path) -> None:
    """The default server (supervised worker) is built and never imports Ray, installed or
    not; ``--backend ray`` without Ray installed is refused, saying how to install it."""
    import subprocess
    import sys

    code = ("import sys; from latentgraph.cli import _parser; from latentgraph import cli_serve; "
            f"args = _parser().parse_args(['serve', '--base-dir', {str(tmp_path)!r}]); "
            "app, _ = cli_serve._build_app(args, cli_serve._checked_settings(args), None); "
            "print('ray' in sys.modules, any(m.startswith('ray.') for m in sys.modules))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_the_ray_backend_without_ray_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from latentgraph.cli import _parser

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    args = _parser().parse_args(["serve", "--base-dir", str(tmp_path), "--backend", "ray"])
    with pytest.raises(ImportError, match=r"pip install 'latentgraph\[ray\]'"):
        cli_serve._build_app(args, cli_serve._checked_settings(args), None)
    assert cli_serve._checked_settings(args).on_crash == "requeue"  # crashed jobs: once more
    args = _parser().parse_args(["serve", "--base-dir", str(tmp_path), "--backend", "ray",
                                 "--no-requeue-crashed"])
    assert cli_serve._checked_settings(args).on_crash == "interrupt"


def test_nodes_run_in_a_worker_unless_in_process(tmp_path: Path) -> None:
    from executor.engine import Engine
    from executor.process_backend import ProcessBackend
    from latentgraph.cli import _parser
    from server.state import BACKEND, SETTINGS

    def backend_of(*extra: str) -> tuple[object, float]:
        args = _parser().parse_args(["serve", "--base-dir", str(tmp_path), *extra])
        app, _ = cli_serve._build_app(args, cli_serve._checked_settings(args), None)
        return app[BACKEND], app[SETTINGS].shutdown_grace_s

    engine, _ = backend_of("--in-process")
    assert isinstance(engine, Engine)
    backend, shutdown_grace = backend_of("--cancel-grace", "40")
    assert isinstance(backend, ProcessBackend)
    try:
        assert backend.cancel_grace_s == 40 and shutdown_grace >= 45
        assert backend.supervisor.worker_pid is not None  # started with the app, not per job
        assert "LoadImage" in backend.validator.registry  # validation holds the nodes
        assert worker_niceness(backend.supervisor.worker_pid) == cli_serve.WORKER_NICE == 10
    finally:
        backend.close()


def worker_niceness(pid: int) -> int:
    """The worker's niceness above ours, once its engine is built (it lowers it there)."""
    import os
    import time

    deadline = time.monotonic() + 30
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    while os.getpriority(os.PRIO_PROCESS, pid) == ours and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpriority(os.PRIO_PROCESS, pid) - ours
