"""Tiny upscale models with seeded random weights in spandrel's own key layout."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from diffusion.upscale.torchvision_compat import import_spandrel
from tests.diffusion.conftest import randomize_parameters


def esrgan_state(seed: int = 0, filters: int = 8, blocks: int = 1,
                 scale: int = 4) -> dict[str, torch.Tensor]:
    """An RRDBNet (ESRGAN / RealESRGAN) state dict built by spandrel's architecture class."""
    import_spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    net = ESRGAN(in_nc=3, out_nc=3, num_filters=filters, num_blocks=blocks, scale=scale)
    randomize_parameters(net, seed)
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def reference_descriptor(state: dict[str, torch.Tensor]) -> object:
    """spandrel's own loader applied to the same weights (the reference forward)."""
    spandrel = import_spandrel()
    return spandrel.ModelLoader().load_from_state_dict(dict(state)).eval()


def save_model(state: dict[str, torch.Tensor], path: Path) -> Path:
    """``.safetensors`` as is; pickles wrapped as RealESRGAN releases are (``params_ema``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path


def pixels(height: int, width: int, batch: int = 1, channels: int = 3,
           seed: int = 1) -> torch.Tensor:
    """A (B, H, W, C) IMAGE of seeded random values."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, height, width, channels), generator=generator)
