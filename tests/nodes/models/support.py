"""Shared test support for the model, conditioning, latent and VAE nodes.

Tiny checkpoints of every arch are written once per test session (``diffusion.checkpoint_maker``)
and linked into each test's own models folder. ``ModelEnv`` is a base folder with ComfyUI's
layout, a registry of the built-in nodes bound to it plus a probe node, and a real Engine whose
ModelManager counts the files it opens.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file, save_file

from diffusion.checkpoint_maker import Arch, make_checkpoint
from diffusion.memory import ComponentSource, ModelManager
from diffusion.text.tokenizer import CLIPTokenizer
from executor.cache import make_cache
from executor.engine import Engine
from executor.jobs import JobOutcome, JobRequest
from nodes.api import Folders, Ports, Registry
from nodes.builtin import register_builtin_nodes
from nodes.models import ModelFolders, SharedText, TokenizerCache
from nodes.models.sources import open_model_file
from tests.nodes.images.helpers import FakeContext as Ctx
from tests.nodes.images.helpers import Probe

_job_ids = itertools.count()
_TOKENIZER: list[CLIPTokenizer] = []


def shared_tokenizer() -> CLIPTokenizer:
    """One tokenizer for the whole test session (its vocabulary takes ~0.5 s to read)."""
    if not _TOKENIZER:
        _TOKENIZER.append(CLIPTokenizer())
    return _TOKENIZER[0]


# The probe node and the direct-call run context are the image tests' own.
__all__ = ["Ctx", "Probe"]


class TinyStore:
    """Tiny checkpoints by arch, written on first request into one session folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, arch: Arch) -> Path:
        target = self.root / f"{arch}.safetensors"
        if not target.exists():
            partial = target.with_suffix(".partial")
            make_checkpoint(arch, partial, tiny=True, seed=7)
            partial.rename(target)
        return target

    def variant(self, arch: Arch, seed: int) -> Path:
        """Another tiny ``arch`` checkpoint: the same layout, weights from ``seed``."""
        target = self.root / f"{arch}-seed{seed}.safetensors"
        if not target.exists():
            partial = target.with_suffix(".partial")
            make_checkpoint(arch, partial, tiny=True, seed=seed)
            partial.rename(target)
        return target

    def part(self, arch: Arch, prefix: str, name: str, extra: dict[str, Any] | None = None,
             keep_prefix: bool = False) -> Path:
        """A file holding only ``arch``'s keys under ``prefix`` (bare unless keep_prefix)."""
        target = self.root / name
        if not target.exists():
            tensors = load_file(self.path(arch))
            part = {(k if keep_prefix else k[len(prefix):]): v.contiguous()
                    for k, v in tensors.items() if k.startswith(prefix)}
            part.update(extra or {})
            save_file(part, target)
        return target


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyStore:
    root = tmp_path_factory.getbasetemp() / "tiny-checkpoints"
    root.mkdir(exist_ok=True)
    return TinyStore(root)


@dataclass
class ModelEnv:
    """A base folder with models/, a registry bound to it and an engine with counted opens."""

    base: Path
    folders: Folders
    model_folders: ModelFolders
    registry: Registry
    engine: Engine
    opens: list[Path] = field(default_factory=list)

    @property
    def manager(self) -> ModelManager:
        return self.engine.ports.models  # type: ignore[return-value]

    def place(self, source: Path, folder: str, name: str, *, copy: bool = False) -> Path:
        """Puts ``source`` at models/<folder>/<name> (a hard link unless ``copy``)."""
        target = self.base / "models" / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copyfile(source, target)
        else:
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        return target

    def run(self, prompt: dict[str, Any], **kwargs: Any) -> JobOutcome:
        """Runs a job; fails the test with the node's error if the job failed."""
        result = self.engine.execute(JobRequest(f"job-{next(_job_ids)}", prompt, **kwargs))
        assert result.ok, result.failure
        return result

    def probe(self, prompt: dict[str, Any], source: str, slot: int = 0) -> Any:
        """The value of ``source``'s output ``slot`` after running ``prompt``."""
        Probe.seen = []
        self.run({**prompt, "probe": {"class_type": "Probe", "inputs": {"value": [source, slot]}}})
        assert len(Probe.seen) == 1
        return Probe.seen[0]


def make_env(base: Path, opener: Callable[[Path], ComponentSource] | None = None,
             tokenizer: TokenizerCache | None = None) -> ModelEnv:
    folders = Folders(input=base / "input", output=base / "output", temp=base / "temp")
    for path in (folders.input, folders.output, folders.temp, base / "models"):
        path.mkdir(parents=True, exist_ok=True)
    model_folders = ModelFolders.under(base / "models")
    registry = Registry(folders=folders, model_files=model_folders)
    register_builtin_nodes(registry)
    registry.register(Probe, module="tests")
    opens: list[Path] = []

    def counting_opener(path: Path) -> ComponentSource:
        opens.append(path)
        return (opener or open_model_file)(path)

    manager = ModelManager(budget_bytes=1 << 30, opener=counting_opener)
    ports = Ports(models=manager, model_files=model_folders,
                  text=SharedText(tokenizer or TokenizerCache(shared_tokenizer)))
    engine = Engine(registry, make_cache("lru", max_entries=1000, max_bytes=1 << 30),
                    folders=folders, ports=ports)
    return ModelEnv(base, folders, model_folders, registry, engine, opens)


@pytest.fixture
def env(tmp_path: Path) -> ModelEnv:
    return make_env(tmp_path)


def loader(ckpt_name: str) -> dict[str, Any]:
    return {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt_name}}


def encode(text: str, clip: list[Any]) -> dict[str, Any]:
    return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": clip}}
