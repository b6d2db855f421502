"""``latentgraph run`` and ``serve`` with node packs: ``<base>/custom_nodes``,
``--custom-nodes``, ``--node-pack``, ``--disable-custom-nodes`` / ``--allow-custom-node``; the
import-time table; a workflow using plugin nodes runs (API and UI formats)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from latentgraph.cli import main
from nodes.plugins.host import uninstall
from tests.plugins.support import copy_packs

PROMPT = {"1": {"class_type": "MakeList", "inputs": {"count": 4}},
          "2": {"class_type": "SumList", "inputs": {"values": ["1", 0], "offset": 5}}}


@pytest.fixture(autouse=True)
def clean_host() -> Iterator[None]:
    yield
    uninstall()


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_run_loads_custom_nodes_and_runs_a_plugin_workflow(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_packs(tmp_path, ["ListPack", "SyntaxErrorPack"])
    code = main(["run", str(write(tmp_path / "wf.json", PROMPT)), "--base-dir", str(tmp_path),
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["outputs"]["2"] == {"values": [1, 2, 3, 4], "total": [15]}
    assert "Import times for custom nodes:" in captured.err
    assert "(IMPORT FAILED): custom_nodes/SyntaxErrorPack" in captured.err


def test_run_a_ui_workflow_with_plugin_widgets(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    copy_packs(tmp_path, ["ListPack"])
    workflow = {
        "last_node_id": 2, "last_link_id": 1, "version": 0.4,
        "nodes": [
            {"id": 1, "type": "MakeList", "pos": [0, 0], "size": [200, 60], "flags": {},
             "order": 0, "mode": 0, "inputs": [],
             "outputs": [{"name": "INT", "type": "INT", "links": [1]}],
             "properties": {}, "widgets_values": [3]},
            {"id": 2, "type": "SumList", "pos": [300, 0], "size": [200, 60], "flags": {},
             "order": 1, "mode": 0,
             "inputs": [{"name": "values", "type": "INT", "link": 1}],
             "outputs": [{"name": "INT", "type": "INT", "links": None}],
             "properties": {}, "widgets_values": [10]},
        ],
        "links": [[1, 1, 0, 2, 0, "INT"]], "groups": [], "config": {}, "extra": {},
    }
    code = main(["run", str(write(tmp_path / "ui.json", workflow)), "--base-dir",
                 str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["outputs"]["2"]["total"] == [16]


def test_custom_nodes_folders_and_the_allow_list(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere"
    copy_packs(other, ["ListPack"])
    wf = write(tmp_path / "wf.json", PROMPT)
    base = tmp_path / "base"
    base.mkdir()
    assert main(["run", str(wf), "--base-dir", str(base), "--custom-nodes",
                 str(other / "custom_nodes")]) == 0
    uninstall()
    capsys.readouterr()
    code = main(["run", str(wf), "--base-dir", str(base), "--custom-nodes",
                 str(other / "custom_nodes"), "--disable-custom-nodes"])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    uninstall()
    assert main(["run", str(wf), "--base-dir", str(base), "--custom-nodes",
                 str(other / "custom_nodes"), "--disable-custom-nodes",
                 "--allow-custom-node", "ListPack"]) == 0


def test_run_with_a_node_pack_module(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    prompt = {"1": {"class_type": "IntValue", "inputs": {"value": 4}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    code = main(["run", str(write(tmp_path / "wf.json", prompt)), "--base-dir", str(tmp_path),
                 "--node-pack", "tests.web.web_pack:register", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["outputs"]["2"] == {"text": ["4"]}
    assert main(["run", str(tmp_path / "wf.json"), "--node-pack", "x:"]) == 2


def test_serve_builds_an_app_with_the_packs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from latentgraph import cli_serve
    from latentgraph.cli import _parser
    from server.state import BACKEND, REGISTRY

    copy_packs(tmp_path, ["ListPack", "RoutesPack"])
    args = _parser().parse_args(["serve", "--base-dir", str(tmp_path), "--node-pack",
                                 "no_such_module_anywhere"])
    app, _ = cli_serve._build_app(args, cli_serve._checked_settings(args), None)
    app[BACKEND].close()  # the worker (started with the app) is not needed here
    reports = {r.name: r for r in app[REGISTRY].pack_reports()}
    assert reports["ListPack"].status == "loaded"
    assert reports["no_such_module_anywhere"].status == "failed"  # reported, not fatal
    resources = {r.canonical for r in app.router.resources()}
    assert {"/routes_pack/hello", "/api/routes_pack/hello"} <= resources
    captured = capsys.readouterr()
    assert "Import times for custom nodes:" in captured.err  # stdout's first line: the URL
    assert "Import times" not in captured.out
