"""The example add-on workflows in docs/ are the ones ``latentgraph.demo_addons`` builds, and
they validate against the real registry with the shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from diffusion.embedded import DEMO_CONTROLNET, DEMO_LORA
from latentgraph.demo import DemoGenerator
from latentgraph.demo_addons import DOC_HINT, DOCS, doc_hint, doc_workflows

ROOT = Path(__file__).resolve().parents[2]


def test_docs_workflows_and_hint_are_in_step() -> None:
    for name, graph in doc_workflows().items():
        assert json.loads((DOCS / name).read_text()) == graph, f"rerun write_docs(): {name}"
    with Image.open(DOCS / DOC_HINT) as img:
        assert (np.asarray(img.convert("L")) == doc_hint()).all()
    lora = doc_workflows()["demo-lora-workflow.json"]
    strengths = sorted(n["inputs"]["strength_model"] for n in lora.values()
                       if n["class_type"] == "LoraLoader")
    assert strengths == [0.0, 0.5, 1.0]


def test_docs_workflows_validate_with_the_shipped_addons() -> None:
    gen = DemoGenerator()
    try:
        assert DEMO_CONTROLNET in gen.model_folders.files("controlnet")
        assert DEMO_LORA in gen.model_folders.files("loras")
        gen.add_input_image(DOC_HINT, doc_hint())
        for graph in doc_workflows().values():
            validated = gen.engine.validate(graph, strict=True)
            assert validated is not None
    finally:
        gen.close()
