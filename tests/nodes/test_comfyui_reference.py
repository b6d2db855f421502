"""Every built-in node that ComfyUI v0.3.64 also has is declared as ComfyUI declares it: display
name, category, python_module, outputs, input names and order, input types, combo choices and
widget defaults/ranges — checked against ComfyUI's own ``/object_info``
(``tests/nodes/reference/``, facts only: no descriptions or tooltips). Deliberate or pending
differences are listed in ``KNOWN`` with the reason; a listed difference that disappears fails
too, so the list stays true."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from latentgraph.app import build_registry

REFERENCE = Path(__file__).parent / "reference" / "comfyui-sd-nodes-v0.3.64.json"
TOP_FIELDS = ("category", "python_module", "output", "output_name", "output_node",
              "output_is_list")
OPTIONS = ("default", "min", "max", "step")
KNOWN: dict[tuple[str, str], str] = {
    ("UNETLoader", "weight_dtype"): "weights load at the engine's dtype; fp8 storage is not "
                                    "offered rather than silently ignored",
    ("CLIPLoader", "type"): "only the SD-era types this engine runs are offered",
    ("DualCLIPLoader", "type"): "only the SD-era types this engine runs are offered",
    ("VAELoader", "vae_name"): "ComfyUI also lists 'pixel_space' (a pass-through VAE for "
                               "pixel-space models, which the SD families do not need)",
}
# Built-in nodes ComfyUI needs a plugin for; their declarations are checked against the
# plugin's in tests/nodes/ipadapter/test_declarations.py.
PLUGIN_NODES = {
    name: "ComfyUI_IPAdapter_plus" for name in (
        "IPAdapter", "IPAdapterAdvanced", "IPAdapterCombineEmbeds", "IPAdapterEmbeds",
        "IPAdapterEncoder", "IPAdapterModelLoader", "IPAdapterUnifiedLoader")
}


def _reference() -> dict[str, Any]:
    return dict(json.loads(REFERENCE.read_text())["nodes"])


def _ours() -> dict[str, Any]:
    return build_registry().object_info()


def _choices(spec: list[Any]) -> list[Any] | None:
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return list(options.get("options", []))
    return None


def _input_differences(name: str, ours: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    found = []
    for section in ("required", "optional"):
        if ours["input_order"].get(section, []) != ref["input_order"].get(section, []):
            found.append(f"{section} inputs {ours['input_order'].get(section, [])} != "
                         f"{ref['input_order'].get(section, [])}")
        for inp, spec in ref["input"].get(section, {}).items():
            mine = ours["input"].get(section, {}).get(inp)
            if mine is None or (name, inp) in KNOWN:
                continue
            ref_options = spec[1] if len(spec) > 1 else {}
            choices = _choices(spec)
            if choices is not None:
                if not ref_options.get("files_of_a_folder") and _choices(mine) != choices:
                    found.append(f"{inp}: choices {_choices(mine)} != {choices}")
            elif mine[0] != spec[0]:
                found.append(f"{inp}: type {mine[0]} != {spec[0]}")
            mine_options = mine[1] if len(mine) > 1 else {}
            found += [f"{inp}: {o} {mine_options.get(o)!r} != {ref_options[o]!r}"
                      for o in OPTIONS if o in ref_options and mine_options.get(o) !=
                      ref_options[o]]
    return found


def differences(name: str, ours: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    found = [f"{field}: {ours.get(field)!r} != {ref.get(field)!r}" for field in TOP_FIELDS
             if field in ref and ours.get(field) != ref.get(field)]
    if ours["display_name"] != (ref.get("display_name") or name):
        found.append(f"display_name: {ours['display_name']!r} != {ref.get('display_name')!r}")
    return found + _input_differences(name, ours, ref)


OURS, REF = _ours(), _reference()


@pytest.mark.parametrize("name", sorted(set(OURS) & set(REF)))
def test_node_is_declared_as_in_comfyui(name: str) -> None:
    assert differences(name, OURS[name], REF[name]) == []


def test_known_differences_are_still_real() -> None:
    for (name, inp), reason in KNOWN.items():
        spec = REF[name]["input"]["required"].get(inp) or REF[name]["input"]["optional"][inp]
        mine = OURS[name]["input"].get("required", {}).get(inp) or \
            OURS[name]["input"]["optional"][inp]
        assert _choices(mine) != _choices(spec), f"{name}.{inp} now matches: drop it ({reason})"


def test_every_builtin_node_exists_in_comfyui() -> None:
    assert sorted(set(OURS) - set(REF)) == sorted(PLUGIN_NODES)
    assert not set(PLUGIN_NODES) & set(REF)
