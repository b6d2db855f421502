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
    status = main(["serve", "--base-dir", str(tmp_path), "--node-pack", "no_colon"],
                  registry=server_registry())
    assert status == 2
    assert "MODULE:FUNCTION" in capsys.readouterr().out


def test_token_sources(tmp_path: Path) -> None:
    assert cli_serve.TOKEN_ENV == security.TOKEN_ENV
    assert security.load_token(None, {}) is None
    assert security.load_token(None, {security.TOKEN_ENV: "x" * 16}) == "x" * 16
    token_file = tmp_path / "token"
    token_file.write_text("y" * 20 + "\n")
    assert security.load_token(token_file, {}) == "y" * 20
