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

    ``checkpoint_dir`` adds a checkpoint search path (e.g. a fresh ``train-demo`` output) in
    front of the embedded model's folder.
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
            model_folders.add("checkpoints", checkpoint_dir, is_default=True)
        self.checkpoint = checkpoint
        self.engine = build_engine(build_registry(self.folders, model_folders), self.folders,
                                   model_folders=model_folders)
        self._jobs = 0

    def __call__(self, prompt: str, seed: int, *, negative: str = "",
                 settings: dict[str, Any] | None = None) -> np.ndarray:
        """(H, W, 3) uint8 picture for ``prompt``."""
        self._jobs += 1
        workflow = default_workflow(prompt, seed, negative=negative, checkpoint=self.checkpoint,
                                    settings=settings)
        result = self.engine.execute(JobRequest(f"demo-{self._jobs}", workflow))
        if not result.ok:
            raise RuntimeError(f"generation failed for {prompt!r}: {result.failure}")
        saved = result.outputs["9"]["images"][0]
        path = Path(self.folders.output) / saved["subfolder"] / saved["filename"]
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))  # kept: a cached rerun names the same file

    def close(self) -> None:
        self._scratch.cleanup()
