"""ComfyUI's ``.latent`` file: a safetensors file, read and written as ComfyUI does.

- ``latent_tensor``: the raw VAE latents (B, C, H, W) (the ``samples`` of the LATENT; the noise
  mask and batch index are not stored);
- ``latent_format_version_0``: an empty tensor marking the current format. Files without it
  are from before that format and hold latents scaled by SD's 0.18215, so reading them
  multiplies by 1 / 0.18215;
- metadata (safetensors ``__metadata__``): ``prompt`` (the API prompt as JSON, ``""`` without
  one) and one JSON text per ``extra_pnginfo`` key (normally ``workflow``).

Reading gives float32 samples; a current-format file round-trips bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import Tensor

LATENT_KEY = "latent_tensor"
VERSION_0_KEY = "latent_format_version_0"
LEGACY_MULTIPLIER = 1.0 / 0.18215
LATENT_SUFFIX = ".latent"


def latent_file_bytes(samples: Tensor, metadata: Mapping[str, str]) -> bytes:
    """The bytes of a current-format ``.latent`` file holding ``samples``."""
    tensors = {
        LATENT_KEY: samples.detach().cpu().contiguous(),
        VERSION_0_KEY: torch.tensor([]),
    }
    return save(tensors, metadata=dict(metadata))


def read_latent_file(path: Path, what: str) -> Tensor:
    """The raw latents of a ``.latent`` file (either format), float32 on the CPU."""
    tensors = load_file(str(path), device="cpu")
    if LATENT_KEY not in tensors:
        raise ValueError(f"{what}: {path.name!r} holds no {LATENT_KEY!r} tensor "
                         f"(keys {sorted(tensors)}); it is not a ComfyUI latent file")
    samples = tensors[LATENT_KEY].float()
    if VERSION_0_KEY not in tensors:  # written before the format marker: scaled latents
        samples = samples * LEGACY_MULTIPLIER
    return samples
