"""The IPAdapter nodes are declared as ComfyUI_IPAdapter_plus (v2) declares them, so workflows
shared with that plugin load: names, display names, categories, input names and order
(required, then optional), types, combo choices, numeric defaults and ranges, outputs. The
table below holds those facts as the plugin's ``INPUT_TYPES`` give them."""

from __future__ import annotations

from typing import Any

import pytest

from latentgraph.app import build_registry

WEIGHT_TYPES = ["linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input",
                "weak output", "weak middle", "strong middle", "style transfer", "composition",
                "strong style transfer", "style and composition", "style transfer precise",
                "composition precise"]
COMBINE = ["concat", "add", "subtract", "average", "norm average"]
SCALING = ["V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"]
PRESETS = ["LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)",
           "VIT-G (medium strength)", "PLUS (high strength)", "PLUS FACE (portraits)",
           "FULL FACE - SD1.5 only (portraits stronger)"]
START = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001})
END = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001})

# name: (display name, category, required inputs, optional inputs, outputs, output names)
PLUGIN: dict[str, tuple[str, str, list[tuple[str, Any]], list[tuple[str, Any]], list[str],
                        list[str]]] = {
    "IPAdapterModelLoader": ("IPAdapter Model Loader", "ipadapter/loaders",
                             [("ipadapter_file", "files")], [], ["IPADAPTER"], ["IPADAPTER"]),
    "IPAdapterUnifiedLoader": (
        "IPAdapter Unified Loader", "ipadapter", [("model", "MODEL"), ("preset", PRESETS)],
        [("ipadapter", "IPADAPTER")], ["MODEL", "IPADAPTER"], ["model", "ipadapter"]),
    "IPAdapter": (
        "IPAdapter", "ipadapter",
        [("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("image", "IMAGE"),
         ("weight", ("FLOAT", {"default": 1.0, "min": -1, "max": 3, "step": 0.05})),
         ("start_at", START), ("end_at", END),
         ("weight_type", ["standard", "prompt is more important", "style transfer"])],
        [("attn_mask", "MASK")], ["MODEL"], ["MODEL"]),
    "IPAdapterAdvanced": (
        "IPAdapter Advanced", "ipadapter",
        [("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("image", "IMAGE"),
         ("weight", ("FLOAT", {"default": 1.0, "min": -1, "max": 5, "step": 0.05})),
         ("weight_type", WEIGHT_TYPES), ("combine_embeds", COMBINE), ("start_at", START),
         ("end_at", END), ("embeds_scaling", SCALING)],
        [("image_negative", "IMAGE"), ("attn_mask", "MASK"), ("clip_vision", "CLIP_VISION")],
        ["MODEL"], ["MODEL"]),
    "IPAdapterEmbeds": (
        "IPAdapter Embeds", "ipadapter/embeds",
        [("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("pos_embed", "EMBEDS"),
         ("weight", ("FLOAT", {"default": 1.0, "min": -1, "max": 3, "step": 0.05})),
         ("weight_type", WEIGHT_TYPES), ("start_at", START), ("end_at", END),
         ("embeds_scaling", SCALING)],
        [("neg_embed", "EMBEDS"), ("attn_mask", "MASK"), ("clip_vision", "CLIP_VISION")],
        ["MODEL"], ["MODEL"]),
    "IPAdapterEncoder": (
        "IPAdapter Encoder", "ipadapter/embeds",
        [("ipadapter", "IPADAPTER"), ("image", "IMAGE"),
         ("weight", ("FLOAT", {"default": 1.0, "min": -1.0, "max": 3.0, "step": 0.01}))],
        [("mask", "MASK"), ("clip_vision", "CLIP_VISION")], ["EMBEDS", "EMBEDS"],
        ["pos_embed", "neg_embed"]),
    "IPAdapterCombineEmbeds": (
        "IPAdapter Combine Embeds", "ipadapter/embeds",
        [("embed1", "EMBEDS"), ("method", [*COMBINE, "max", "min"])],
        [(f"embed{i}", "EMBEDS") for i in range(2, 6)], ["EMBEDS"], ["EMBEDS"]),
}
OURS = build_registry().object_info()


def _check(name: str, spec: list[Any], expected: Any) -> list[str]:
    if expected == "files":
        return [] if isinstance(spec[0], list) else [f"{name}: not a file picker"]
    if isinstance(expected, list):
        return [] if spec[0] == expected else [f"{name}: choices {spec[0]} != {expected}"]
    if isinstance(expected, str):
        return [] if spec[0] == expected else [f"{name}: type {spec[0]} != {expected}"]
    kind, options = expected
    found = [f"{name}: type {spec[0]} != {kind}"] if spec[0] != kind else []
    return found + [f"{name}: {k} {spec[1].get(k)!r} != {v!r}" for k, v in options.items()
                    if spec[1].get(k) != v]


@pytest.mark.parametrize("name", sorted(PLUGIN))
def test_declared_as_the_plugin_declares_it(name: str) -> None:
    display, category, required, optional, outputs, output_names = PLUGIN[name]
    ours = OURS[name]
    problems = []
    for section, expected in (("required", required), ("optional", optional)):
        assert ours["input_order"].get(section, []) == [n for n, _ in expected], section
        problems += [p for n, e in expected for p in _check(n, ours["input"][section][n], e)]
    assert problems == []
    assert (ours["display_name"], ours["category"]) == (display, category)
    assert (ours["output"], ours["output_name"]) == (outputs, output_names)
    assert ours["python_module"] == "custom_nodes.ComfyUI_IPAdapter_plus"
