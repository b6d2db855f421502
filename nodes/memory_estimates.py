"""Memory estimates of the built-in nodes that make or resize latents and images, and of VAE
decoding (``Node.estimate_memory``; see ``nodes.api.memory``).

All are lower bounds, so a job is refused only when it cannot fit at all:

- a new latent or image: its own bytes, in RAM (latents (B, 4, H/8, W/8) and images
  (B, H, W, C) are float32 on the CPU between nodes);
- a resize: the resized tensor, in RAM;
- VAE decoding: the decoded image in RAM, and on the compute device one activation at full
  resolution with 128 channels in float16 (every Stable Diffusion VAE's last decoder block;
  the real peak is several of those).
"""

from __future__ import annotations

from nodes.api import MemoryEstimate, TensorSpec
from nodes.api.memory import FLOAT16

LATENT_CHANNELS = 4
IMAGE_CHANNELS = 3
VAE_FULL_RES_CHANNELS = 128
SIZE_ADVICE = "use a smaller width, height or batch_size"
DECODE_ADVICE = ("decode tile by tile with VAE Decode (Tiled), or make the latent (width, "
                 "height, batch_size) smaller")


def latent(batch: int, height: int, width: int, channels: int = LATENT_CHANNELS) -> TensorSpec:
    """A latent for an image of ``width`` × ``height`` pixels: (B, C, H/8, W/8)."""
    return TensorSpec((batch, channels, height // 8, width // 8))


def image(batch: int, height: int, width: int, channels: int = IMAGE_CHANNELS) -> TensorSpec:
    return TensorSpec((batch, height, width, channels))


def new_tensor(spec: TensorSpec, kind: str, advice: str = SIZE_ADVICE) -> MemoryEstimate:
    """A node that makes ``spec`` and keeps it in RAM."""
    return MemoryEstimate(host_bytes=spec.nbytes, what=spec.describe(kind), outputs=(spec,),
                          advice=advice)


def resized(source: TensorSpec | None, height: int, width: int, *, latent_layout: bool
            ) -> MemoryEstimate | None:
    """A resize of ``source`` (batch and channels kept) to ``height`` × ``width`` samples."""
    if source is None or len(source.shape) != 4:
        return None
    if latent_layout:
        batch, channels = source.shape[0], source.shape[1]
        spec = TensorSpec((batch, channels, height, width))
    else:
        batch, channels = source.shape[0], source.shape[3]
        spec = TensorSpec((batch, height, width, channels))
    return new_tensor(spec, "latent" if latent_layout else "image",
                      "choose a smaller target size, or resize a smaller batch")


def vae_decode(samples: TensorSpec | None, factor: int = 8) -> MemoryEstimate | None:
    """Decoding ``samples`` (B, C, h, w) to (B, 8h, 8w, 3) images."""
    if samples is None or len(samples.shape) != 4:
        return None
    batch, _, height, width = samples.shape
    out = image(batch, height * factor, width * factor)
    working = TensorSpec((batch, VAE_FULL_RES_CHANNELS, height * factor, width * factor),
                         FLOAT16)
    return MemoryEstimate(
        device_bytes=working.nbytes, host_bytes=out.nbytes,
        what=f"{working.describe('decoder activation')} and {out.describe('image')}",
        outputs=(out,), advice=DECODE_ADVICE)
