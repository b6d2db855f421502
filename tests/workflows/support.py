"""Support for the end-to-end workflow tests: tiny checkpoints (written once per session), a
base folder with ComfyUI's layout, and an engine built by the composition root."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from diffusion.checkpoint_maker import make_checkpoint
from executor.engine import Engine
from latentgraph.app import build_engine, build_registry, folders_under

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLERS = {"KSampler": "seed", "KSamplerAdvanced": "noise_seed", "SamplerCustom": "noise_seed",
            "RandomNoise": "noise_seed"}


class TinyCheckpoints:
    """Tiny random checkpoints by arch, each written on first request (``<arch>.safetensors``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, arch: str) -> Path:
        target = self.root / f"{arch}.safetensors"
        if not target.exists():
            partial = target.with_suffix(".partial")
            make_checkpoint(arch, partial, tiny=True, seed=3)  # type: ignore[arg-type]
            partial.rename(target)
        return target


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoints:
    root = tmp_path_factory.getbasetemp() / "sampling-tiny-checkpoints"
    root.mkdir(exist_ok=True)
    return TinyCheckpoints(root)


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def checkpoint_names(prompt: dict[str, Any]) -> set[str]:
    return {n["inputs"]["ckpt_name"] for n in prompt.values()
            if n["class_type"] == "CheckpointLoaderSimple"}


def write_input_images(input_dir: Path) -> None:
    """photo.png: 64×64 RGB gradient; hole.png: the same with a transparent 24×24 centre."""
    ys, xs = np.mgrid[0:64, 0:64]
    rgb = np.stack([xs * 4, ys * 4, (xs + ys) * 2], axis=-1).astype(np.uint8)  # (64, 64, 3)
    Image.fromarray(rgb).save(input_dir / "photo.png")
    alpha = np.full((64, 64, 1), 255, dtype=np.uint8)
    alpha[20:44, 20:44] = 0  # LoadImage's mask = 1 - alpha: 1 in the hole
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1)).save(input_dir / "hole.png")


@dataclass
class Workspace:
    """A ``--base-dir``: models/checkpoints/<arch>.safetensors, input/ images, output/."""

    base: Path

    @property
    def output(self) -> Path:
        return self.base / "output"

    def engine(self) -> Engine:
        """The engine and registry exactly as ``latentgraph run`` builds them."""
        folders = folders_under(self.base)
        return build_engine(build_registry(folders), folders)


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture
def workspace(tmp_path: Path, tiny_checkpoints: TinyCheckpoints) -> Iterator[Workspace]:
    """A base folder holding every tiny checkpoint (linked) and the input images."""
    for arch in ("sd15", "sd15-inpaint", "sd21-v", "sdxl", "sdxl-refiner"):
        link_or_copy(tiny_checkpoints.path(arch),
                     tmp_path / "models" / "checkpoints" / f"{arch}.safetensors")
    (tmp_path / "input").mkdir()
    write_input_images(tmp_path / "input")
    yield Workspace(tmp_path)


def descendants(prompt: dict[str, Any], node_id: str) -> set[str]:
    """``node_id`` and every node downstream of it."""
    found = {node_id}
    changed = True
    while changed:
        changed = False
        for nid, node in prompt.items():
            links = [v[0] for v in node["inputs"].values() if isinstance(v, list) and len(v) == 2]
            if nid not in found and any(src in found for src in links):
                found.add(nid)
                changed = True
    return found


def cached_output(engine: Engine, prompt: dict[str, Any], node_id: str, slot: int = 0) -> Any:
    """The value of a node's output slot from the engine's cache after a run."""
    keys = engine.history.get(node_id, prompt[node_id]["class_type"])
    assert keys is not None, f"node {node_id} has no recorded cache key"
    entry = engine.cache.get(keys[1])
    assert entry is not None, f"node {node_id}'s outputs are not cached"
    return entry.outputs[slot][0]


__all__ = [
    "FIXTURES", "SAMPLERS", "TinyCheckpoints", "Workspace", "cached_output", "checkpoint_names",
    "descendants", "load_fixture", "tiny_checkpoints", "workspace", "write_input_images",
]
