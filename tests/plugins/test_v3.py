"""ComfyUI V3 nodes (``comfy_api.latest``): an extension's ``comfy_entrypoint`` lists
``io.ComfyNode`` classes that register, validate, fingerprint and run (async ``execute``,
hidden inputs, ``ui`` outputs) like V1 ones."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from executor.errors import PromptError
from tests.plugins.support import PluginEnv

Load = Callable[..., PluginEnv]


def prompt(value: float, mode: str = "plain") -> dict[str, dict[str, object]]:
    return {"1": {"class_type": "V3ScaleNumber",
                  "inputs": {"value": value, "factor": 3, "mode": mode}},
            "2": {"class_type": "V3ShowNumber", "inputs": {"number": ["1", 0]}}}


def test_a_v3_extension_registers_its_nodes_with_their_schema(plugin_env: Load) -> None:
    env = plugin_env("V3Pack")
    assert env.reports["V3Pack"].apis == ["comfyui-v3"]
    assert env.reports["V3Pack"].nodes == ["V3ScaleNumber", "V3ShowNumber"]
    info = env.registry.node_info("V3ScaleNumber")
    assert info["display_name"] == "Scale Number (V3)"
    assert info["description"] == "Multiplies a number."
    assert info["category"] == "tests/v3"
    assert info["input"]["required"]["factor"] == [
        "INT", {"default": 2, "min": 1, "max": 10, "display": "slider"}]
    assert info["input"]["required"]["mode"] == [
        "COMBO", {"default": "plain", "options": ["plain", "negated"]}]
    assert info["input"]["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert info["output"] == ["FLOAT"] and info["output_name"] == ["scaled"]
    assert env.registry.node_info("V3ShowNumber")["output_node"] is True


def test_a_v3_node_runs_async_with_hidden_inputs_and_ui(plugin_env: Load) -> None:
    env = plugin_env("V3Pack")
    calls = sys.modules["V3Pack"].CALLS
    result = env.run(prompt(1.5, "negated"))
    assert result.ok, result.failure
    assert result.outputs["2"] == {"text": ["-4.5"]}
    assert calls == ["1"]
    again = env.run(prompt(1.5, "negated"))  # fingerprint_inputs unchanged: reused
    assert again.executed == [] and calls == ["1"]


def test_v3_validate_inputs_refuses(plugin_env: Load) -> None:
    env = plugin_env("V3Pack")
    with pytest.raises(PromptError) as caught:
        env.run(prompt(13.0))
    assert "13 is unlucky" in caught.value.node_errors["1"]["errors"][0]["details"]
