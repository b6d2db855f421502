"""ComfyUI V1 node classes run unchanged, one synthetic pack per feature: wildcards, custom
types, list semantics, lazy inputs, expansion, blockers, IS_CHANGED, VALIDATE_INPUTS, state set
in INPUT_TYPES, a pack ``nodes.py`` doing ``import nodes``, tab-indented source, subclassing
built-in nodes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from executor.errors import PromptError
from tests.plugins.support import PluginEnv

Load = Callable[..., PluginEnv]


def only(result: Any) -> Any:
    assert result.ok, result.failure
    return result


def test_wildcard_types_match_everything_and_carry_payloads_both_ways(plugin_env: Load) -> None:
    env = plugin_env("ComfyUI-Wildcards")
    assert env.registry.node_info("AnyPassthrough")["display_name"] == "Any (passthrough)"
    prompt = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 1}},
        "2": {"class_type": "AnyPassthrough", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["2", 0],
                                                          "upscale_method": "nearest-exact",
                                                          "scale_by": 2.0}},
        "4": {"class_type": "DescribeAny", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "DescribeAny", "inputs": {"value": ["1", 0]}},
    }
    result = only(env.run(prompt))
    assert result.outputs["4"]["text"] == ["dict:samples"]  # a built-in LATENT, as a dict
    assert result.outputs["5"]["text"] == ["dict:samples"]


def test_comma_separated_union_types_overlap(plugin_env: Load) -> None:
    env = plugin_env("ComfyUI-Wildcards")
    ok = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 4}},
          "2": {"class_type": "IntOrFloat", "inputs": {"number": ["1", 0]}},
          "3": {"class_type": "DescribeAny", "inputs": {"value": ["2", 0]}}}
    assert only(env.run(ok)).outputs["3"]["text"] == ["int"]
    bad = {"1": {"class_type": "EmptyImage", "inputs": {}},
           "2": {"class_type": "IntOrFloat", "inputs": {"number": ["1", 0]}},
           "3": {"class_type": "DescribeAny", "inputs": {"value": ["2", 0]}}}
    with pytest.raises(PromptError) as caught:
        env.run(bad)
    errors = caught.value.node_errors["2"]["errors"]
    assert errors[0]["type"] == "return_type_mismatch"


def test_custom_types_flow_between_a_packs_own_nodes(plugin_env: Load) -> None:
    env = plugin_env("custom_types_pack.py")
    assert env.reports["custom_types_pack"].status == "loaded"
    prompt = {"1": {"class_type": "MakeVec2", "inputs": {"x": 1.5, "y": -2}},
              "2": {"class_type": "MakeVec2", "inputs": {"x": -1.5, "y": 2}},
              "3": {"class_type": "AddVec2", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
              "4": {"class_type": "ShowVec2", "inputs": {"v": ["3", 0], "flag": ["3", 1]}}}
    assert only(env.run(prompt)).outputs["4"] == {"vec": [[0.0, 0.0]], "flag": [True]}
    info = env.registry.node_info("AddVec2")
    assert info["output"] == ["VEC2", "BOOL"] and info["output_name"] == ["sum", "is_zero"]
    wrong = {"1": {"class_type": "MakeVec2", "inputs": {}},
             "2": {"class_type": "ShowVec2", "inputs": {"v": ["1", 0], "flag": ["1", 0]}}}
    with pytest.raises(PromptError) as caught:
        env.run(wrong)
    assert caught.value.node_errors["2"]["errors"][0]["type"] == "return_type_mismatch"


def test_list_semantics(plugin_env: Load) -> None:
    env = plugin_env("ListPack")
    prompt = {"1": {"class_type": "MakeList", "inputs": {"count": 3}},
              "2": {"class_type": "Double", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "SumList", "inputs": {"values": ["2", 0], "offset": 100}}}
    result = only(env.run(prompt))
    assert result.outputs["3"] == {"values": [2, 4, 6], "total": [112]}
    assert env.registry.node_info("MakeList")["output_is_list"] == [True]


def test_lazy_inputs_evaluate_only_the_branch_chosen(plugin_env: Load) -> None:
    env = plugin_env("LazyPack")
    runs = sys.modules["LazyPack"].RUNS
    prompt = {"1": {"class_type": "RecordRun", "inputs": {"tag": "yes"}},
              "2": {"class_type": "RecordRun", "inputs": {"tag": "no"}},
              "3": {"class_type": "LazySwitch", "inputs": {"switch": False, "on_true": ["1", 0],
                                                           "on_false": ["2", 0]}},
              "4": {"class_type": "ShowString", "inputs": {"text": ["3", 0]}}}
    assert only(env.run(prompt)).outputs["4"] == {"text": ["no"]}
    assert runs == ["no"]
    info = env.registry.node_info("LazySwitch")["input"]["required"]["on_true"]
    assert info == ["*", {"lazy": True}]


def test_node_expansion_with_graph_builder(plugin_env: Load) -> None:
    env = plugin_env("ExpandPack")
    prompt = {"1": {"class_type": "Seed", "inputs": {"value": 10}},
              "2": {"class_type": "RepeatAddOne", "inputs": {"value": ["1", 0], "times": 3}},
              "3": {"class_type": "ShowInt", "inputs": {"value": ["2", 0]}}}
    result = only(env.run(prompt))
    assert result.outputs["3"] == {"value": [13]}
    added = [n for n in result.executed if n.startswith("2.")]
    assert added == ["2.0.0.2", "2.0.0.3", "2.0.0.4"]  # GraphBuilder's ids
    # the added Seed(10) has the same content key as prompt node 1: reused, not run again
    assert result.reasons["2.0.0.1"].value == "cached"
    again = only(env.run(prompt))
    assert again.executed == [] and sys.modules["ExpandPack"].RUNS == [10, 11, 12]


def test_execution_blocker_blocks_consumers(plugin_env: Load) -> None:
    env = plugin_env("BlockerPack")

    def prompt(open_: bool, message: str) -> dict[str, Any]:
        return {"1": {"class_type": "Gate", "inputs": {"value": 5, "open": open_,
                                                       "message": message}},
                "2": {"class_type": "ShowBlocked", "inputs": {"value": ["1", 0]}}}

    assert only(env.run(prompt(True, ""))).outputs["2"] == {"value": [5]}
    silent = only(env.run(prompt(False, "")))
    assert "2" not in silent.outputs
    loud = env.run(prompt(False, "closed for a reason"))
    assert not loud.ok and loud.failure is not None
    assert loud.failure.node_id == "2" and "closed for a reason" in loud.failure.message


def test_is_changed_as_an_attribute_reruns_and_as_a_method_follows_the_file(
        plugin_env: Load) -> None:
    env = plugin_env("ChangePack")
    runs = sys.modules["ChangePack"].RUNS
    always = {"1": {"class_type": "AlwaysNew", "inputs": {"tag": "x"}}}
    only(env.run(always))
    again = only(env.run(always))
    assert again.executed == ["1"] and again.reasons["1"].value == "not_cacheable"
    stamp = env.base / "input" / "stamp.txt"
    stamp.write_text("one")
    watch = {"1": {"class_type": "FileStamp", "inputs": {"name": "stamp.txt"}}}
    assert only(env.run(watch)).outputs["1"] == {"text": ["one"]}
    assert only(env.run(watch)).executed == []
    stamp.write_text("two")
    later = time.time() + 5
    import os

    os.utime(stamp, (later, later))
    changed = only(env.run(watch))
    assert changed.outputs["1"] == {"text": ["two"]}
    assert changed.reasons["1"].value == "fingerprint_changed"
    assert runs.count(("always", "x")) == 2


def test_validate_inputs_refuses_with_its_message(plugin_env: Load) -> None:
    env = plugin_env("ValidatePack")
    with pytest.raises(PromptError) as caught:
        env.run({"1": {"class_type": "EvenOnly", "inputs": {"number": 3}},
                 "2": {"class_type": "NumbersOnly", "inputs": {"x": ["1", 0]}}})
    errors = caught.value.node_errors["1"]["errors"]
    assert errors[0]["type"] == "custom_validation_failed"
    assert "number must be even, got 3" in errors[0]["details"]
    ok = only(env.run({"1": {"class_type": "EvenOnly", "inputs": {"number": 4}},
                       "2": {"class_type": "NumbersOnly", "inputs": {"x": ["1", 0]}}}))
    assert ok.outputs["2"] == {"x": [4]}


def test_validate_inputs_with_input_types_sees_the_linked_types(plugin_env: Load) -> None:
    env = plugin_env("ValidatePack")
    with pytest.raises(PromptError) as caught:
        env.run({"1": {"class_type": "EmptyImage", "inputs": {}},
                 "2": {"class_type": "NumbersOnly", "inputs": {"x": ["1", 0]}}})
    assert "x must be a number, got IMAGE" in caught.value.node_errors["2"]["errors"][0][
        "details"]


def test_an_input_the_node_validates_skips_the_choice_check(plugin_env: Load) -> None:
    env = plugin_env("ValidatePack")
    result = only(env.run({"1": {"class_type": "FreeCombo", "inputs": {"choice": "zzz"}}}))
    assert result.outputs["1"] == {"choice": ["zzz"]}


def test_state_set_in_input_types_is_there_when_the_node_runs(plugin_env: Load) -> None:
    env = plugin_env("StatePack")
    result = only(env.run({"1": {"class_type": "StateFromInputTypes",
                                 "inputs": {"size": "large"}}}))
    assert result.outputs["1"] == {"value": [10]}


def test_a_pack_nodes_py_doing_import_nodes_gets_comfyuis_names(plugin_env: Load) -> None:
    env = plugin_env("NodesPyPack")
    assert env.reports["NodesPyPack"].status == "loaded"
    assert "NodesPyPack.nodes" in sys.modules  # its own file, under its package
    result = only(env.run({"1": {"class_type": "ResolutionInfo", "inputs": {"width": 512}}}))
    assert result.outputs["1"] == {"module": ["nodes"], "max": [16384], "has_ksampler": [True],
                                   "sees_itself": [True], "width": [512]}
    import nodes

    assert nodes.NODE_CLASS_MAPPINGS["ResolutionInfo"].__module__ == "NodesPyPack.nodes"
    info = env.registry.node_info("ResolutionInfo")
    assert info["input"]["required"]["width"] == ["INT", {"default": 512, "min": 64,
                                                          "max": 16384, "step": 8}]


def test_tab_indented_non_ascii_pack_with_extreme_bounds_and_scalar_combos(
        plugin_env: Load) -> None:
    env = plugin_env("TabbedPack")
    info = env.registry.node_info("GrößeNode")
    assert info["display_name"] == "Größe ✓"
    assert info["input"]["required"]["flag"] == [[True, False]]
    assert info["input"]["required"]["count"] == [[1, 2, 3], {"default": 2}]
    assert info["input"]["required"]["scale"][1]["min"] == -sys.float_info.max
    result = only(env.run({"1": {"class_type": "GrößeNode",
                                 "inputs": {"scale": 1.5, "flag": True, "count": 3}}}))
    assert result.outputs["1"] == {"out": [4.5]}
    with pytest.raises(PromptError):
        env.run({"1": {"class_type": "GrößeNode",
                       "inputs": {"scale": 1.5, "flag": True, "count": 7}}})


def test_a_pack_subclasses_and_calls_builtin_nodes(plugin_env: Load) -> None:
    env = plugin_env("SubclassPack")
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16,
                                                           "batch_size": 2, "color": 255}},
              "2": {"class_type": "TaggedPreview", "inputs": {"images": ["1", 0],
                                                              "tag": "pack"}},
              "3": {"class_type": "HalfLatent", "inputs": {"width": 64}},
              "4": {"class_type": "LatentUpscaleBy",
                    "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact",
                               "scale_by": 1.0}},
              "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}}}
    result = only(env.run(prompt))
    images = result.outputs["2"]["images"]
    assert len(images) == 2 and all(i["type"] == "temp" for i in images)
    assert images[0]["filename"].startswith("pack_tagged_")
    assert (env.base / "temp" / images[0]["filename"]).is_file()
    # the pack's extra LATENT key survives a built-in node (kept for the next pack)
    assert "extras={'made_by': 'HalfLatent'}" in result.outputs["5"]["text"][0]
    info = env.registry.node_info("TaggedPreview")
    assert list(info["input"]["required"]) == ["images", "tag"]
    assert info["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
