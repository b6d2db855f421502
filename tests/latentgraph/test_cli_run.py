"""``latentgraph run`` in-process, with a stub node pack."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from executor.events import NodeProgress, NodeStarted
from latentgraph.cli import main
from latentgraph.cli_run import ProgressBar
from nodes.api import Link, Node, NodeResult, RunContext, String
from tests.executor.stub_nodes import NUMBER, Runs, make_registry


class SaveNumber(Node):
    """Writes a number to a text file in the output folder."""

    output_node = True
    inputs = (Link("value", NUMBER), String("filename_prefix", default="num"))

    def run(self, ctx: RunContext, value: float, filename_prefix: str) -> NodeResult:
        assert ctx.folders is not None
        name = f"{filename_prefix}_{value:g}.txt"
        (ctx.folders.output / name).write_text(str(value))
        return NodeResult((), {"images": [{"filename": name, "subfolder": "", "type": "output"}]})


@pytest.fixture
def registry() -> Any:
    reg = make_registry(Runs())
    reg.register(SaveNumber)
    return reg


PROMPT = {
    "1": {"class_type": "Constant", "inputs": {"value": 2}, "_meta": {"title": "Start"}},
    "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 3}},
    "3": {"class_type": "SaveNumber", "inputs": {"value": ["2", 0]}},
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(data))
    return path


def test_run_prints_outputs_and_summary(tmp_path: Path, registry: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code = main(["run", str(write(tmp_path, PROMPT)), "--output-dir", str(out_dir),
                 "--base-dir", str(tmp_path), "--explain"], registry=registry)
    stdout = capsys.readouterr().out
    assert code == 0
    assert (out_dir / "num_5.txt").read_text() == "5.0"
    assert f"{out_dir.resolve()}/num_5.txt" in stdout
    assert "success: 3 nodes executed, 0 reused" in stdout
    assert "new" in stdout


def test_set_overrides_by_id_and_title(tmp_path: Path, registry: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(write(tmp_path, PROMPT)), "--base-dir", str(tmp_path),
                 "--set", "2.b=10", "--set", "Start.value=1.5"], registry=registry)
    assert code == 0
    assert (tmp_path / "output" / "num_11.5.txt").exists()


def test_request_wrapper_and_json_output(tmp_path: Path, registry: Any,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    body = {"prompt": PROMPT, "extra_data": {"extra_pnginfo": {"workflow": {}}}}
    code = main(["run", str(write(tmp_path, body)), "--base-dir", str(tmp_path), "--json",
                 "--target", "2"], registry=registry)
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] == "success"
    assert result["summaries"] == {"2": ["5.0"]} and result["executed"] == ["1", "2"]


def test_validation_report_exits_2(tmp_path: Path, registry: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(json.dumps(PROMPT))
    bad["2"]["inputs"]["b"] = "many"
    code = main(["run", str(write(tmp_path, bad)), "--base-dir", str(tmp_path)],
                registry=registry)
    err = capsys.readouterr().err
    assert code == 2
    assert "node 2 (Add) input 'b': Failed to convert an input value to a INT value" in err
    assert 'expected: ["INT", {"default": 1' in err and "received: 'many'" in err


def test_execution_failure_exits_1(tmp_path: Path, registry: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    failing = {"1": {"class_type": "Constant", "inputs": {}},
               "2": {"class_type": "Fail", "inputs": {"a": ["1", 0]}},
               "3": {"class_type": "SaveNumber", "inputs": {"value": ["2", 0]}}}
    code = main(["run", str(write(tmp_path, failing)), "--base-dir", str(tmp_path)],
                registry=registry)
    err = capsys.readouterr().err
    assert code == 1
    assert "node 2 (Fail) failed: RuntimeError: boom on 0.0" in err


def test_usage_errors(tmp_path: Path, registry: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, PROMPT)
    assert main(["run", str(tmp_path / "missing.json")], registry=registry) == 2
    assert main(["run", str(path), "--set", "nodot=1"], registry=registry) == 2
    assert main(["run", str(path), "--set", "Ghost.value=1"], registry=registry) == 2
    err = capsys.readouterr().err
    assert "cannot read workflow" in err and "NODE.INPUT=VALUE" in err and "'Ghost'" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal() -> None:
    stream = _Tty()
    bar = ProgressBar(stream)
    bar(NodeStarted("j", "3", "KSampler"))
    bar(NodeProgress("j", "3", 10, 20))
    bar.end_line()
    assert "3 KSampler [" + "#" * 15 + "." * 15 + "] 10/20" in stream.getvalue()
    quiet = io.StringIO()
    ProgressBar(quiet)(NodeProgress("j", "3", 1, 2))
    assert quiet.getvalue() == ""


def test_run_accepts_a_ui_workflow(tmp_path: Path, registry: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    ui = {
        "last_node_id": 3, "last_link_id": 2, "version": 0.4,
        "nodes": [
            {"id": 1, "type": "Constant", "mode": 0, "inputs": [],
             "outputs": [{"name": "value", "type": "NUMBER", "links": [1]}],
             "widgets_values": [2.5]},
            {"id": 2, "type": "Add", "mode": 0,
             "inputs": [{"name": "a", "type": "NUMBER", "link": 1}],
             "outputs": [{"name": "NUMBER", "type": "NUMBER", "links": [2]}],
             "widgets_values": [4]},
            {"id": 3, "type": "SaveNumber", "mode": 0,
             "inputs": [{"name": "value", "type": "NUMBER", "link": 2}],
             "outputs": [], "widgets_values": ["ui"]},
        ],
        "links": [[1, 1, 0, 2, 0, "NUMBER"], [2, 2, 0, 3, 0, "NUMBER"]],
    }
    code = main(["run", str(write(tmp_path, ui)), "--base-dir", str(tmp_path)],
                registry=registry)
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "output" / "ui_6.5.txt").read_text() == "6.5"


def test_run_with_the_builtin_pack_end_to_end(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    (tmp_path / "input").mkdir()
    Image.new("RGB", (8, 6), (255, 0, 0)).save(tmp_path / "input" / "red.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "red.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                    "filename_prefix": "inv/%width%"}},
    }
    code = main(["run", str(write(tmp_path, prompt)), "--base-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    saved = tmp_path / "output" / "inv" / "8_00001_.png"
    assert f"{saved.resolve()}" in out
    with Image.open(saved) as image:
        assert image.size == (8, 6) and image.getpixel((0, 0)) == (0, 255, 255)
        assert json.loads(image.text["prompt"])["2"]["class_type"] == "ImageInvert"
