"""Discovery and isolation: where packs come from, what is skipped, and how a pack that cannot
be imported (syntax error, missing module, a part of ComfyUI we lack) or a node whose
INPUT_TYPES raises is reported while everything else loads."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from nodes.api.packs import DISABLED, FAILED, LOADED
from nodes.plugins import PluginSettings, format_import_times
from nodes.plugins.discovery import discover
from tests.plugins.support import PluginEnv, copy_packs

Load = Callable[..., PluginEnv]
BROKEN = ("SyntaxErrorPack", "MissingModulePack", "MissingComfyPart", "HalfBrokenPack",
          "NoInitPack", "OldPack.disabled", "ListPack")


def test_discovery_finds_folders_and_files_and_skips_disabled_and_caches(tmp_path: Path) -> None:
    folder = copy_packs(tmp_path, ["ListPack", "custom_types_pack.py", "OldPack.disabled"])
    (folder / "__pycache__").mkdir()
    (folder / ".hidden").mkdir()
    (folder / "notes.txt").write_text("not a pack")
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "ListPack").mkdir()  # the same name again: the first one wins
    (extra / "single.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    sources, disabled = discover(PluginSettings.for_base(tmp_path, [extra], ["some.module:reg"]))
    assert [(s.name, s.kind) for s in sources] == [
        ("some.module", "module"), ("ListPack", "folder"), ("custom_types_pack", "file"),
        ("single", "file")]
    assert sources[0].function == "reg"
    assert [(d.name, d.status) for d in disabled] == [("ListPack", DISABLED)]


def test_disable_custom_nodes_with_an_allow_list(tmp_path: Path) -> None:
    copy_packs(tmp_path, ["ListPack", "LazyPack"])
    settings = PluginSettings.for_base(tmp_path, disable_custom_nodes=True, allow=["LazyPack"])
    sources, disabled = discover(settings)
    assert [s.name for s in sources] == ["LazyPack"]
    assert [(d.name, d.status) for d in disabled] == [("ListPack", DISABLED)]


def test_broken_packs_are_reported_and_the_others_load(plugin_env: Load) -> None:
    env = plugin_env(*BROKEN)
    reports = env.reports
    assert "OldPack.disabled" not in reports  # never imported
    assert reports["ListPack"].status == LOADED and "SumList" in env.registry
    syntax = reports["SyntaxErrorPack"]
    assert syntax.status == FAILED and syntax.error is not None
    assert syntax.error.exception_type == "SyntaxError"
    assert any("SyntaxErrorPack/broken.py" in line for line in syntax.error.traceback)
    missing = reports["MissingModulePack"].error
    assert missing is not None and missing.missing_module == "cv2"
    assert missing.pip_package == "opencv-python"
    assert "pip install opencv-python" in missing.message
    comfy = reports["MissingComfyPart"].error
    assert comfy is not None and comfy.missing_module.startswith("comfy.ldm")
    assert comfy.pip_package is None and "part of ComfyUI" in comfy.message
    assert reports["NoInitPack"].status == FAILED
    assert "no __init__.py" in reports["NoInitPack"].error.message  # type: ignore[union-attr]
    for name in ("SyntaxErrorPack", "MissingModulePack", "NoInitPack"):
        assert name not in sys.modules  # a failed import leaves nothing behind


def test_a_node_whose_input_types_raises_is_left_out_alone(plugin_env: Load) -> None:
    env = plugin_env("HalfBrokenPack")
    report = env.reports["HalfBrokenPack"]
    assert report.status == LOADED and report.nodes == ["GoodNode"]
    assert "cannot list my inputs" in report.left_out["BadInputs"]
    assert "BadInputs" not in env.registry.object_info()
    result = env.run({"1": {"class_type": "GoodNode", "inputs": {"text": "fine"}}})
    assert result.ok and result.outputs["1"] == {"text": ["fine"]}


def test_the_import_time_table(plugin_env: Load) -> None:
    env = plugin_env("ListPack", "SyntaxErrorPack", "OldPack.disabled")
    table = format_import_times(env.reports.values())
    lines = table.splitlines()
    assert lines[0] == "Import times for custom nodes:"
    assert any(line.endswith("seconds: custom_nodes/ListPack") for line in lines)
    assert any("(IMPORT FAILED): custom_nodes/SyntaxErrorPack" in line for line in lines)
    assert not any("OldPack" in line for line in lines)  # .disabled: not even listed
    assert any(line.startswith("Cannot import custom_nodes/SyntaxErrorPack: SyntaxError")
               for line in lines)
    assert env.reports["ListPack"].seconds > 0


def test_requirements_are_never_installed(plugin_env: Load, tmp_path: Path) -> None:
    copy_packs(tmp_path, ["MissingModulePack"])
    (tmp_path / "custom_nodes" / "MissingModulePack" / "requirements.txt").write_text(
        "opencv-python\n")
    env = plugin_env()
    assert env.reports["MissingModulePack"].status == FAILED
    assert "cv2" not in sys.modules


def test_a_pack_may_not_take_the_name_of_a_module_in_use(plugin_env: Load,
                                                         tmp_path: Path) -> None:
    folder = tmp_path / "custom_nodes" / "json"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    env = plugin_env()
    assert env.reports["json"].status == FAILED
    assert "taken by a module already imported" in env.reports["json"].error.message  # type: ignore[union-attr]
    import json

    assert json.dumps([1]) == "[1]"


def test_our_api_packs_and_register_functions(plugin_env: Load, tmp_path: Path) -> None:
    folder = tmp_path / "custom_nodes" / "ours_pack"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        "from nodes.api import Int, Node, NodeResult, RunContext\n"
        "from atexit import register as _unrelated  # an imported 'register' is not a hook\n"
        "class OursNode(Node):\n"
        "    '''Doubles.'''\n"
        "    output_node = True\n"
        "    inputs = (Int('x', default=2, tooltip='x'),)\n"
        "    def run(self, ctx: RunContext, x: int) -> NodeResult:\n"
        "        return NodeResult((), {'x': [x * 2]})\n"
        "def register(registry):\n"
        "    registry.register(OursNode, module='custom_nodes.ours_pack')\n")
    env = plugin_env()
    assert env.reports["ours_pack"].apis == ["latentgraph"]
    result = env.run({"1": {"class_type": "OursNode", "inputs": {"x": 4}}})
    assert result.ok and result.outputs["1"] == {"x": [8]}
    import nodes

    assert nodes.NODE_CLASS_MAPPINGS["OursNode"].INPUT_TYPES()["required"]["x"][0] == "INT"
