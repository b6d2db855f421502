"""Loading upscale models through spandrel's core (MIT) architecture registry.

Files are read here, never by spandrel's own file loader (which would run TorchScript for
``.pt``): ``.safetensors``/``.sft`` with safetensors, ``.pth``/``.pt``/``.ckpt``/``.bin`` with
``torch.load(weights_only=True)`` only, so a pickle that needs anything beyond tensors and
containers is refused rather than executed. The state dict is unwrapped as ComfyUI and spandrel
do (``state_dict``/``params_ema``/… wrappers, a ``module.`` prefix) and handed to spandrel's
``MAIN_REGISTRY`` (never extended with spandrel-extra-arches). Only image-to-image models of
purpose ``SR`` or ``Restoration`` (1x models) are accepted; inpainting and face models are
refused with the architecture named.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from diffusion.upscale.model import UpscaleModel
from diffusion.upscale.torchvision_compat import import_spandrel

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
ACCEPTED_PURPOSES = ("SR", "Restoration")
# ComfyUI strips "module." from SwinIR-style files whose keys carry it (not all keys may).
_SWINIR_PROBE = "module.layers.0.residual_group.blocks.0.norm1.weight"


class UpscaleModelError(ValueError):
    """An upscale model file that cannot be read safely, recognised or used."""


def _read_pickle(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UpscaleModelError(
            f"upscale model {path.name!r} cannot be loaded safely: its pickle holds objects "
            f"beyond tensors ({reason}); convert it to .safetensors with a trusted tool"
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise UpscaleModelError(f"upscale model {path.name!r} is not a readable torch file: "
                                f"{exc}") from exc


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an upscale model file, unwrapped and with ComfyUI's prefix rule."""
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        try:
            raw: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise UpscaleModelError(f"upscale model {path.name!r} is not a readable safetensors "
                                    f"file: {exc}") from exc
    elif suffix in PICKLE_SUFFIXES:
        raw = _read_pickle(path)
    else:
        raise UpscaleModelError(f"upscale model {path.name!r}: unsupported extension {suffix!r}; "
                                f"use one of {SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES}")
    if not isinstance(raw, dict):
        raise UpscaleModelError(f"upscale model {path.name!r} holds {type(raw).__name__}, "
                                "not a state dict")
    state = import_spandrel().canonicalize_state_dict(raw)
    if _SWINIR_PROBE in state:
        state = {k.removeprefix("module."): v for k, v in state.items()}
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UpscaleModelError(f"upscale model {path.name!r} holds no tensors")
    return tensors


def describe(descriptor: Any) -> str:
    """``ESRGAN (4x, SR)`` for messages and logs."""
    return f"{descriptor.architecture.name} ({descriptor.scale}x, {descriptor.purpose})"


def check_usable(descriptor: Any, name: str) -> None:
    """Refuses what ImageUpscaleWithModel cannot run: masked (inpainting) and face models."""
    spandrel = import_spandrel()
    arch = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise UpscaleModelError(
            f"upscale model {name!r} is a {arch} {descriptor.purpose} model, which needs a mask; "
            "only single-image super-resolution or restoration models can upscale images"
        )
    if descriptor.purpose not in ACCEPTED_PURPOSES:
        raise UpscaleModelError(
            f"upscale model {name!r} is a {arch} {descriptor.purpose} (face restoration) "
            f"model, which expects aligned face crops; only {' or '.join(ACCEPTED_PURPOSES)} "
            "models can upscale whole images"
        )


def model_from_state_dict(state: dict[str, torch.Tensor], name: str) -> UpscaleModel:
    """Detects the architecture (spandrel's core registry) and builds the model in eval mode."""
    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader(registry=spandrel.MAIN_REGISTRY).load_from_state_dict(
            state)
    except spandrel.UnsupportedModelError as exc:
        raise UpscaleModelError(
            f"upscale model {name!r}: no supported architecture matches its weights ({exc})"
        ) from exc
    check_usable(descriptor, name)
    descriptor.model.eval()
    for parameter in descriptor.model.parameters():
        parameter.requires_grad_(False)
    return UpscaleModel(descriptor, name)


def load_upscale_model(path: Path) -> UpscaleModel:
    """The upscale model in ``path``, on the CPU, in float32."""
    return model_from_state_dict(read_state_dict(Path(path)), Path(path).name)
