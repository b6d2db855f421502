"""``latentgraph db check|backup|salvage`` and ``serve`` on a damaged job database."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentgraph.cli import main
from tests.server.store_damage import damage_page_of, not_a_database, store_with_jobs
from tests.server.stub_pack import server_registry


def test_check_and_backup_a_sound_database(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store_with_jobs(tmp_path / "jobs.db")
    assert main(["db", "check", "--base-dir", str(tmp_path)]) == 0
    assert "ok:" in capsys.readouterr().out
    backups = tmp_path / "backups"
    backups.mkdir()
    assert main(["db", "backup", str(backups), "--base-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (copy,) = backups.glob("jobs-*.db")
    assert str(copy) in out and "40 success" in out and "20 pending" in out
    assert main(["db", "check", "--db", str(copy)]) == 0
    assert main(["db", "backup", str(copy), "--base-dir", str(tmp_path)]) == 2  # no overwrite


def test_check_names_the_damage_and_salvage_recovers_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_with_jobs(tmp_path / "jobs.db")
    damage_page_of(tmp_path / "jobs.db", 30)
    assert main(["db", "check", "--base-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "is damaged" in out and "latentgraph db salvage" in out
    saved = tmp_path / "saved.db"
    assert main(["db", "salvage", str(saved), "--base-dir", str(tmp_path)]) == 0
    assert "salvaged" in capsys.readouterr().out
    assert main(["db", "check", "--db", str(saved)]) == 0
    assert main(["db", "check", "--db", str(tmp_path / "missing.db")]) == 2


def test_serve_refuses_a_damaged_database_and_says_how_to_recover(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_database(tmp_path / "jobs.db")
    status = main(["serve", "--base-dir", str(tmp_path), "--port", "0"],
                  registry=server_registry())
    assert status == 3
    out = capsys.readouterr().out
    assert f"the job database {tmp_path / 'jobs.db'} is damaged" in out
    assert "Traceback" not in out and "--start-empty-if-damaged" in out
    assert len(list(tmp_path.glob("jobs.db.damaged-*"))) == 1
