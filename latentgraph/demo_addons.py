"""Workflows for the demo model's add-ons (issue 21): its ControlNet and its outline-style LoRA.

Both extend the editor's default graph (``latentgraph.demo.default_workflow``) with ComfyUI's
ordinary nodes, so they are what a user builds by hand:

- ``controlnet_workflow``: LoadImage (the hint) -> ControlNetLoader -> ControlNetApplyAdvanced on
  the positive and negative prompts -> KSampler ("ControlNet: place the shape by a scribble");
- ``lora_workflow``: LoraLoader on the checkpoint's MODEL and CLIP -> KSampler, the LoRA's
  strength as given ("LoRA: outline style at strength 0 / 0.5 / 1" is three of these).

``docs/demo-controlnet-workflow.json`` and ``docs/demo-lora-workflow.json`` are written from
these functions (``write_docs``; a test keeps them in step).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from diffusion.embedded import DEMO_CONTROLNET, DEMO_LORA
from latentgraph.demo import default_workflow

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC_HINT = "demo-hint-scribble.png"  # docs/: copy into the input folder to run the example
DOC_PROMPT_CONTROL = "a large red circle on a blue background"
DOC_PROMPT_LORA = "a large yellow square on a purple background, centre"


def controlnet_workflow(prompt: str, hint_image: str, seed: int, *, strength: float = 1.0,
                        control_net: str = DEMO_CONTROLNET,
                        settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The default graph with the hint image (in the input folder) applied by the ControlNet."""
    graph = default_workflow(prompt, seed, settings=settings)
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": hint_image}}
    graph["11"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": control_net}}
    graph["12"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "control_net": ["11", 0],
        "image": ["10", 0], "strength": strength, "start_percent": 0.0, "end_percent": 1.0}}
    graph["3"]["inputs"].update(positive=["12", 0], negative=["12", 1])
    graph["9"]["inputs"]["filename_prefix"] = "latentgraph-shapes-control"
    return graph


def lora_workflow(prompt: str, seed: int, strength: float, *, lora: str = DEMO_LORA,
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The default graph with the LoRA on the model at ``strength`` (the CLIP unchanged: the
    LoRA has no text-encoder part)."""
    graph = default_workflow(prompt, seed, settings=settings)
    graph["10"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["4", 0], "clip": ["4", 1], "lora_name": lora,
        "strength_model": strength, "strength_clip": strength}}
    graph["3"]["inputs"]["model"] = ["10", 0]
    for node in ("6", "7"):
        graph[node]["inputs"]["clip"] = ["10", 1]
    graph["9"]["inputs"]["filename_prefix"] = "latentgraph-shapes-outline"
    return graph


def lora_strengths_workflow(prompt: str, seed: int,
                            strengths: tuple[float, ...] = (0.0, 0.5, 1.0)) -> dict[str, Any]:
    """One graph, one seed, the LoRA at each strength (a KSampler and SaveImage per strength)."""
    graph = default_workflow(prompt, seed)
    for n, strength in enumerate(strengths):
        lora, pos, sampler, decode, save = (str(100 + 10 * n + k) for k in range(5))
        graph[lora] = {"class_type": "LoraLoader", "inputs": {
            "model": ["4", 0], "clip": ["4", 1], "lora_name": DEMO_LORA,
            "strength_model": strength, "strength_clip": strength}}
        graph[pos] = {"class_type": "CLIPTextEncode", "inputs": {"text": prompt,
                                                                "clip": [lora, 1]}}
        graph[sampler] = {"class_type": "KSampler", "inputs": {
            **graph["3"]["inputs"], "model": [lora, 0], "positive": [pos, 0]}}
        graph[decode] = {"class_type": "VAEDecode", "inputs": {"samples": [sampler, 0],
                                                                "vae": ["4", 2]}}
        graph[save] = {"class_type": "SaveImage", "inputs": {
            "images": [decode, 0], "filename_prefix": f"latentgraph-outline-{strength:g}"}}
    for node in ("3", "6", "8", "9"):
        del graph[node]
    return graph


def doc_workflows() -> dict[str, dict[str, Any]]:
    """The two example workflows shipped in ``docs/`` (file name -> API-format graph)."""
    return {
        "demo-controlnet-workflow.json": controlnet_workflow(DOC_PROMPT_CONTROL, DOC_HINT, 1),
        "demo-lora-workflow.json": lora_strengths_workflow(DOC_PROMPT_LORA, 1),
    }


def doc_hint() -> np.ndarray:
    """(128, 128) uint8: the docs' example hint, a scribbled large circle at the top left."""
    from training.shape_hints import hint_for
    from training.shapes_data import ShapeLabel

    label = ShapeLabel("red", "circle", "large", "top left", "blue", (34.0, 34.0), 28.0)
    return hint_for(label, "scribble", 128, seed=0, index=0)


def write_docs(folder: Path = DOCS) -> list[Path]:
    """Writes the two example workflows and the ControlNet example's hint image."""
    Image.fromarray(doc_hint()).convert("RGB").save(folder / DOC_HINT)
    paths = [folder / DOC_HINT]
    for name, graph in doc_workflows().items():
        path = folder / name
        path.write_text(json.dumps(graph, indent=1) + "\n")
        paths.append(path)
    return paths
