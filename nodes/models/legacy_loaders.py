"""ComfyUI's older loaders: CheckpointLoader (a checkpoint plus an LDM config) and
DiffusersLoader (a diffusers pipeline folder from the ``diffusers`` model folder).

Both return what CheckpointLoaderSimple returns for the same weights; the config may make the
model v-prediction, pick the CLIP layer and upcast attention (``nodes.models.ldm_config``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from diffusion.memory import FileKey, ModelHandle
from diffusion.sampling.model_sampling import ModelSamplingDiscrete
from diffusion.unet.attention import Attend, AttentionInfo
from nodes.api import (
    CLIP,
    MODEL,
    VAE,
    CachePolicy,
    Combo,
    FingerprintContext,
    ModelFiles,
    Node,
    Output,
    RunContext,
    SchemaContext,
)
from nodes.api.inputs import SchemaChoices
from nodes.api.paths import PathRefusedError, entry_inside
from nodes.models.ldm_config import LdmConfig, read_ldm_config
from nodes.models.payload_builders import checkpoint_clip, checkpoint_vae, model_payload
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import Clip, DiffusionModel

MODEL_INDEX = "model_index.json"
_OUTPUTS = (Output(MODEL), Output(CLIP), Output(VAE))


def checkpoint_outputs(ctx: RunContext, handles: Mapping[str, ModelHandle],
                       source: str) -> tuple[Any, Any, Any]:
    """MODEL, CLIP and VAE of an opened checkpoint (file or folder), as CheckpointLoaderSimple."""
    if "unet" not in handles:
        raise ValueError(f"{source} holds no diffusion model (components {sorted(handles)})")
    embeddings = ctx.model_files.search_paths("embeddings")
    return (model_payload(handles["unet"]),
            checkpoint_clip(handles, ctx.text.clip_tokenizer(), embeddings, source),
            checkpoint_vae(handles, source))


@dataclass(frozen=True)
class Fp32Attention:
    """An attention processor computing half-precision attention in float32."""

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, info: AttentionInfo,
                 attend: Attend) -> Tensor:
        if q.dtype == torch.float32:
            return attend(q, k, v)
        return attend(q.float(), k.float(), v.float()).to(q.dtype)


def apply_config(model: DiffusionModel, clip: Any, config: LdmConfig) -> tuple[Any, Any]:
    """The config's overrides on a loaded MODEL and CLIP (new payloads)."""
    if config.v_prediction and isinstance(model.model_sampling, ModelSamplingDiscrete):
        sampling = dataclasses.replace(model.model_sampling, prediction="v_prediction")
        model = dataclasses.replace(model, model_sampling=sampling)
    if config.upcast_attention:
        model = dataclasses.replace(model, hooks=model.hooks.plus(attention=(Fp32Attention(),)))
    if config.clip_layer is not None and isinstance(clip, Clip):
        clip = dataclasses.replace(clip, stop_at_layer=config.clip_layer)
    return model, clip


class CheckpointLoader(ModelPickerNode):
    """Loads a checkpoint with an LDM config from models/configs: the model is detected from
    the weights; the config's v-prediction, CLIP layer_idx and upcast_attention apply."""

    display_name = "Load Checkpoint With Config (DEPRECATED)"
    category = "advanced/loaders"
    deprecated = True
    pickers = {"config_name": "configs", "ckpt_name": "checkpoints"}
    inputs = (
        model_picker("config_name", "configs", "The LDM .yaml config of the checkpoint."),
        model_picker("ckpt_name", "checkpoints", "The checkpoint to load."),
    )
    outputs = _OUTPUTS

    def run(self, ctx: RunContext, config_name: str, ckpt_name: str) -> tuple[Any, ...]:
        config = read_ldm_config(self.model_path(ctx.model_files, "config_name", config_name))
        path = self.model_path(ctx.model_files, "ckpt_name", ckpt_name)
        model, clip, vae = checkpoint_outputs(ctx, ctx.models.open(path),
                                              f"checkpoint {ckpt_name!r}")
        model, clip = apply_config(model, clip, config)
        return model, clip, vae


def diffusers_folders(root: Path) -> list[str]:
    """Relative names of the folders below ``root`` holding a ``model_index.json``."""
    if not root.is_dir():
        return []
    found = [os.path.relpath(top, root) for top, _dirs, files in os.walk(root, followlinks=True)
             if MODEL_INDEX in files]
    return sorted(Path(name).as_posix() for name in found)


@dataclass(frozen=True)
class DiffusersFolders(SchemaChoices):
    """Choices: the pipeline folders under every search path of the ``diffusers`` folder."""

    def __call__(self, schema: SchemaContext) -> list[str]:
        try:
            roots = schema.model_files.search_paths("diffusers")
        except KeyError:
            return []
        return sorted({name for root in roots for name in diffusers_folders(Path(root))})


def resolve_pipeline(model_files: ModelFiles, name: object) -> Path:
    """The pipeline folder ``name`` in the first ``diffusers`` search path holding it."""
    what = "DiffusersLoader input 'model_path'"
    roots = model_files.search_paths("diffusers")
    for root in roots:
        path = entry_inside(root, name, what=what)
        if (path / MODEL_INDEX).is_file():
            return path
    raise FileNotFoundError(f"{what} {name!r}: no folder with {MODEL_INDEX} of that name in "
                            f"{[str(r) for r in roots]}")


class DiffusersLoader(Node):
    """Loads a diffusers pipeline folder (unet/, vae/, text_encoder/ …) from models/diffusers."""

    category = "advanced/loaders/deprecated"
    cache = CachePolicy.FINGERPRINT
    inputs = (Combo("model_path", choices=DiffusersFolders(),
                    tooltip="A folder with model_index.json under models/diffusers."),)
    outputs = _OUTPUTS

    @classmethod
    def fingerprint(cls, ctx: FingerprintContext, model_path: Any = None) -> Any:
        if model_path is None:
            raise ValueError("DiffusersLoader input 'model_path' is linked; it cannot be "
                             "fingerprinted before the run")
        folder = resolve_pipeline(ctx.model_files, model_path)
        keys = [FileKey.of(Path(top, name)) for top, _dirs, files in os.walk(folder)
                for name in sorted(files)]
        return sorted([k.path, k.size, k.mtime_ns] for k in keys)

    @classmethod
    def validate(cls, ctx: FingerprintContext, model_path: Any = None) -> str | None:
        if model_path is None:
            return None
        try:
            resolve_pipeline(ctx.model_files, model_path)
        except (PathRefusedError, FileNotFoundError) as exc:
            return str(exc)
        return None

    def run(self, ctx: RunContext, model_path: str) -> tuple[Any, ...]:
        folder = resolve_pipeline(ctx.model_files, model_path)
        return checkpoint_outputs(ctx, ctx.models.open(folder), f"diffusers folder "
                                                                  f"{model_path!r}")


LEGACY_LOADER_NODES = [CheckpointLoader, DiffusersLoader]
