"""Helpers for the merging and saving node tests: payloads of tiny checkpoints, a direct-call
context wired to the environment's ModelManager and output folder, resident weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.checkpoint_maker import Arch
from diffusion.patching import PatchSet
from nodes.payloads import Clip, DiffusionModel, Vae
from tests.nodes.models.support import Ctx, ModelEnv, TinyStore, loader


@dataclass(frozen=True)
class Loaded:
    model: DiffusionModel
    clip: Clip
    vae: Vae


def load(env: ModelEnv, tiny: TinyStore, arch: Arch, seed: int | None = None,
         folder: str = "checkpoints") -> Loaded:
    """CheckpointLoaderSimple's outputs for tiny ``arch`` (the session's, or another seed)."""
    source = tiny.path(arch) if seed is None else tiny.variant(arch, seed)
    name = source.name
    if not (env.base / "models" / folder / name).exists():
        env.place(source, folder, name)
    return reload(env, name)


def reload(env: ModelEnv, ckpt_name: str) -> Loaded:
    values = [env.probe({"1": loader(ckpt_name)}, "1", slot) for slot in range(3)]
    return Loaded(*values)


def ctx(env: ModelEnv, **kwargs: Any) -> Ctx:
    """A run context for calling ``Node.run`` directly, wired like the engine's."""
    return Ctx(folders=env.folders, models=env.manager, **kwargs)


def weights(env: ModelEnv, handle: Any, patches: PatchSet = PatchSet.EMPTY
            ) -> dict[str, Tensor]:
    """The resident (patched) weights of a component, cloned."""
    with env.manager.use(handle, patches) as module:
        return {key: value.detach().clone() for key, value in module.state_dict().items()}


def model_weights(env: ModelEnv, model: DiffusionModel) -> dict[str, Tensor]:
    return weights(env, model.unet, model.patches)


def identical(first: dict[str, Tensor], second: dict[str, Tensor]) -> bool:
    """Same keys, dtypes and values, bit for bit."""
    return first.keys() == second.keys() and all(
        first[k].dtype == second[k].dtype and torch.equal(first[k], second[k]) for k in first)


__all__ = ["Loaded", "ctx", "identical", "load", "model_weights", "reload", "weights"]
