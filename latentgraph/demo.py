"""Pictures from the demo model through the real engine and the editor's default workflow.

Used by the adherence benchmark, the README grid and the CI adherence test (``training/`` may not
import the engine, so this lives with the composition root).

The workflow is the API form of ``web/js/default_graph.js`` (CheckpointLoaderSimple ->
CLIPTextEncode x2 -> EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage) with the model card's
recommended settings; a picture is read back from the PNG that SaveImage wrote, exactly what a
user gets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from diffusion.embedded import DEMO_CHECKPOINT, RECOMMENDED
from executor.jobs import JobRequest


def default_workflow(prompt: str, seed: int, *, negative: str = "",
                     checkpoint: str = DEMO_CHECKPOINT,
                     settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The editor's default graph in API format with the recommended settings."""
    s = {**RECOMMENDED, **(settings or {})}

    def encode(text: str) -> dict[str, Any]:
        return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}}

    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": s["width"], "height": s["height"], "batch_size": 1}},
        "6": encode(prompt), "7": encode(negative),
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": s["steps"], "cfg": s["cfg"],
            "sampler_name": s["sampler_name"], "scheduler": s["scheduler"],
            "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage",
              "inputs": {"images": ["8", 0], "filename_prefix": "latentgraph-shapes"}},
    }


class DemoGenerator:
    """One engine (models stay loaded between calls) over a scratch base folder.

    ``checkpoint_dir`` adds a search path (e.g. a fresh ``train-demo`` output) in front of the
    embedded files' folders, for checkpoints, ControlNets and LoRAs.
    """

    def __init__(self, checkpoint_dir: Path | None = None,
                 checkpoint: str = DEMO_CHECKPOINT) -> None:
        from latentgraph.app import (
            build_engine,
            build_registry,
            default_model_folders,
            folders_under,
        )

        self._scratch = tempfile.TemporaryDirectory(prefix="latentgraph-demo-")
        self.folders = folders_under(Path(self._scratch.name))
        model_folders = default_model_folders(self.folders)
        if checkpoint_dir is not None:
            for folder in ("checkpoints", "controlnet", "loras"):
                model_folders.add(folder, checkpoint_dir, is_default=True)
        self.checkpoint = checkpoint
        self.model_folders = model_folders
        self.engine = build_engine(build_registry(self.folders, model_folders), self.folders,
                                   model_folders=model_folders)
        self._jobs = 0

    def __call__(self, prompt: str, seed: int, *, negative: str = "",
                 settings: dict[str, Any] | None = None) -> np.ndarray:
        """(H, W, 3) uint8 picture for ``prompt``."""
        workflow = default_workflow(prompt, seed, negative=negative, checkpoint=self.checkpoint,
                                    settings=settings)
        return self.run(workflow)[0]

    def run(self, workflow: dict[str, Any], save_node: str = "9") -> list[np.ndarray]:
        """Runs an API-format workflow; the (H, W, 3) uint8 pictures ``save_node`` saved."""
        self._jobs += 1
        result = self.engine.execute(JobRequest(f"demo-{self._jobs}", workflow))
        if not result.ok:
            raise RuntimeError(f"workflow failed: {result.failure}")
        pictures = []
        for saved in result.outputs[save_node]["images"]:
            path = Path(self.folders.output) / saved["subfolder"] / saved["filename"]
            with Image.open(path) as img:
                pictures.append(np.asarray(img.convert("RGB")))  # a cached rerun: same file
        return pictures

    def add_input_image(self, name: str, image: np.ndarray) -> str:
        """Writes ``image`` (H, W[, 3]) uint8 into the input folder for LoadImage; its name."""
        Image.fromarray(image).convert("RGB").save(Path(self.folders.input) / name)
        return name

    def close(self) -> None:
        self._scratch.cleanup()
