"""ComfyUI's ``ModelPatcher``: the MODEL a ComfyUI pack receives, over our MODEL payload.

A pack sees ComfyUI's object — ``clone()``, ``add_patches``, the ``set_model_*`` patch
setters, ``model_options``, ``get_model_object``, ``add_object_patch`` — and what it returns is
turned back into a new :class:`~nodes.payloads.DiffusionModel` (``to_payload``): weight patches
appended to its ``PatchSet`` (``weight_patches``), ``model_options`` functions appended to its
``ModelHooks`` (``patcher_hooks``). The payload it came from is never changed; a clone nobody
patched gives back that very payload.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import uuid
from typing import Any

import torch

from nodes.payloads import DiffusionModel
from nodes.plugins.compat.comfy.patcher_hooks import model_hooks
from nodes.plugins.compat.comfy.weight_patches import UNET_PREFIX, to_weight_patches

logger = logging.getLogger(__name__)


def _copy_options(options: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's clone of ``model_options``: dicts and lists copied, functions shared."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(options)


def _is_ours(sampling: Any) -> bool:
    """One of our ``ModelSampling`` objects (duck-typed: the protocol is not checkable)."""
    return all(hasattr(sampling, name) for name in
               ("noise_scaling", "inverse_noise_scaling", "calculate_denoised", "summary"))


class BaseModelView:
    """``model.model``: what packs read of ComfyUI's BaseModel."""

    def __init__(self, payload: DiffusionModel) -> None:
        self._payload = payload
        self.model_sampling = payload.model_sampling
        self.latent_format = payload.latent_format
        self.model_type = None
        self.model_config = _ModelConfig(payload)

    def get_dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def diffusion_model(self) -> torch.nn.Module:
        """The UNet module (read-only inspection: patch through the ModelPatcher)."""
        with self._payload.unet.use() as unet:
            return unet


class _ModelConfig:
    def __init__(self, payload: DiffusionModel) -> None:
        self.unet_config = {"in_channels": payload.in_channels}
        self.latent_format = payload.latent_format
        self.family = payload.family


class ModelPatcher:
    """ComfyUI's MODEL object over a :class:`DiffusionModel` (see the module docstring)."""

    def __init__(self, payload: DiffusionModel) -> None:
        self.payload = payload
        self.patches: dict[str, list[tuple[Any, ...]]] = {}
        self.object_patches: dict[str, Any] = {}
        self.model_options: dict[str, Any] = {"transformer_options": {}}
        self.model = BaseModelView(payload)
        self.load_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.offload_device = torch.device("cpu")
        self.current_device = self.offload_device
        self.weight_inplace_update = False
        self.patches_uuid = uuid.uuid4()
        self.size = 0

    # -- ComfyUI's API --------------------------------------------------------------------
    def clone(self) -> ModelPatcher:
        twin = ModelPatcher(self.payload)
        twin.patches = {k: list(v) for k, v in self.patches.items()}
        twin.object_patches = dict(self.object_patches)
        twin.model_options = _copy_options(self.model_options)
        twin.patches_uuid = self.patches_uuid
        return twin

    def is_clone(self, other: Any) -> bool:
        return isinstance(other, ModelPatcher) and other.payload.unet is self.payload.unet

    def clone_has_same_weights(self, other: Any) -> bool:
        return self.is_clone(other) and other.patches == self.patches

    def model_size(self) -> int:
        return 0

    def loaded_size(self) -> int:
        return 0

    def model_dtype(self) -> torch.dtype:
        return self.model.get_dtype()

    def model_patches_to(self, device: Any) -> None:
        """Nothing to move: the engine places models and their hooks."""

    def add_patches(self, patches: dict[str, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[str]:
        added = []
        for key, value in patches.items():
            name = key[0] if isinstance(key, tuple) else key
            if not isinstance(name, str) or not name.startswith(UNET_PREFIX):
                continue  # not a UNet weight (ComfyUI skips keys its model lacks)
            self.patches.setdefault(name, []).append(
                (strength_patch, value, strength_model, None, None))
            added.append(key)
        self.patches_uuid = uuid.uuid4()
        return added

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, Any]:
        return {k: v for k, v in self.patches.items()
                if filter_prefix is None or k.startswith(filter_prefix)}

    def add_object_patch(self, name: str, obj: Any) -> None:
        self.object_patches[name] = obj

    def get_model_object(self, name: str) -> Any:
        if name in self.object_patches:
            return self.object_patches[name]
        if name in ("model_sampling", "latent_format"):
            return getattr(self.payload, name)
        if name == "diffusion_model":
            return self.model.diffusion_model
        raise AttributeError(f"MODEL object {name!r} is not available to plugins here "
                             "(model_sampling, latent_format, diffusion_model are)")

    # -- model_options setters (ComfyUI's names) -------------------------------------------
    def set_model_sampler_cfg_function(self, sampler_cfg_function: Any,
                                       disable_cfg1_optimization: bool = False) -> None:
        self.model_options["sampler_cfg_function"] = sampler_cfg_function
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(self, post_cfg_function: Any,
                                            disable_cfg1_optimization: bool = False) -> None:
        self.model_options.setdefault("sampler_post_cfg_function", []).append(post_cfg_function)
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_pre_cfg_function(self, pre_cfg_function: Any,
                                           disable_cfg1_optimization: bool = False) -> None:
        self.model_options.setdefault("sampler_pre_cfg_function", []).append(pre_cfg_function)
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_unet_function_wrapper(self, unet_wrapper_function: Any) -> None:
        self.model_options["model_function_wrapper"] = unet_wrapper_function

    def set_model_denoise_mask_function(self, denoise_mask_function: Any) -> None:
        self.model_options["denoise_mask_function"] = denoise_mask_function

    def set_model_patch(self, patch: Any, name: str) -> None:
        transformer = self.model_options.setdefault("transformer_options", {})
        transformer.setdefault("patches", {}).setdefault(name, []).append(patch)

    def set_model_patch_replace(self, patch: Any, name: str, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        transformer = self.model_options.setdefault("transformer_options", {})
        table = transformer.setdefault("patches_replace", {}).setdefault(name, {})
        key = (block_name, number) if transformer_index is None else \
            (block_name, number, transformer_index)
        table[key] = patch

    def set_model_attn1_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn1", block_name, number, transformer_index)

    def set_model_attn2_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn2", block_name, number, transformer_index)

    def set_model_attn1_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_input_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch")

    def set_model_output_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "output_block_patch")

    # -- back to our payload --------------------------------------------------------------
    def to_payload(self) -> tuple[DiffusionModel, list[str]]:
        """The MODEL payload this object stands for now, and the model options it could not
        honour (the caller reports them)."""
        payload = self.payload
        hooks, unsupported = model_hooks(self, payload.hooks)
        changes: dict[str, Any] = {}
        if self.patches:
            changes["patches"] = payload.patches.plus(*to_weight_patches(self.patches))
        if hooks is not payload.hooks:
            changes["hooks"] = hooks
        sampling = self.object_patches.get("model_sampling")
        if sampling is not None and sampling is not payload.model_sampling:
            if not _is_ours(sampling):
                unsupported.append("object patch model_sampling (not one of ours)")
            else:
                changes["model_sampling"] = sampling
        unsupported += [f"object patch {k}" for k in self.object_patches if k != "model_sampling"]
        return (dataclasses.replace(payload, **changes) if changes else payload), unsupported

    def __deepcopy__(self, memo: dict[int, Any]) -> ModelPatcher:
        twin = self.clone()
        twin.model_options = copy.deepcopy(self.model_options, memo)
        return twin
