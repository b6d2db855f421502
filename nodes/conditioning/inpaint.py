"""InpaintModelConditioning: the inputs of a 9-channel inpainting model, ComfyUI's way.

The image is encoded twice: as it is (the LATENT to sample from) and with the masked pixels set
to grey 0.5 (the masked-image latent). Both conditionings carry that latent and the mask
(``Cond.concat_latent_image`` / ``concat_mask``), which an inpainting UNet receives as its 5
extra channels; other models ignore them. With ``noise_mask`` the latent also gets the mask as
its noise mask, so sampling only changes the masked part.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from diffusion.guidance.cond import Conditioning, replace_all
from nodes.api import (
    CONDITIONING,
    IMAGE,
    LATENT,
    MASK,
    VAE,
    Boolean,
    Link,
    Node,
    Output,
    RunContext,
)
from nodes.payloads import Latent, Vae
from nodes.vae.codec import crop_to_multiple, encode_pixels

_WHAT = "InpaintModelConditioning input 'pixels'"


def pixel_mask(mask: torch.Tensor, pixels: torch.Tensor, multiple: int) -> torch.Tensor:
    """The mask resized (bilinear) to the image and cropped with it to multiples of
    ``multiple``, centred: (B, 1, h, w)."""
    height, width = pixels.shape[1], pixels.shape[2]
    masks = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).float()
    masks = F.interpolate(masks, size=(height, width), mode="bilinear")  # (B, 1, H, W)
    h, w = height // multiple * multiple, width // multiple * multiple
    top, left = (height % multiple) // 2, (width % multiple) // 2
    return masks[:, :, top:top + h, left:left + w]


class InpaintModelConditioning(Node):
    """Prepares inpainting: the latent of the image, and both conditionings extended with the
    masked image's latent and the mask (what inpainting models take as extra input)."""

    category = "conditioning/inpaint"
    inputs = (
        Link("positive", CONDITIONING, tooltip="The positive conditioning."),
        Link("negative", CONDITIONING, tooltip="The negative conditioning."),
        Link("vae", VAE, tooltip="The VAE that encodes the image."),
        Link("pixels", IMAGE, tooltip="The image to inpaint."),
        Link("mask", MASK, tooltip="1 where the image is repainted (any resolution)."),
        Boolean("noise_mask", default=True,
                tooltip="Also set the mask as the latent's noise mask, so sampling changes "
                        "only the masked part."),
    )
    outputs = (Output(CONDITIONING, "positive"), Output(CONDITIONING, "negative"),
               Output(LATENT, "latent"))

    def run(self, ctx: RunContext, positive: Conditioning, negative: Conditioning, vae: Vae,
            pixels: torch.Tensor, mask: torch.Tensor, noise_mask: bool) -> tuple[Any, ...]:
        masks = pixel_mask(mask, pixels, vae.downscale)  # (B, 1, h, w)
        cropped = crop_to_multiple(pixels, vae.downscale)[..., :3]  # (B, h, w, 3)
        keep = (1.0 - masks.round()).squeeze(1)[..., None]  # (B, h, w, 1)
        grey = (cropped - 0.5) * keep + 0.5
        concat_latent = encode_pixels(vae, grey, _WHAT)
        latent = Latent(encode_pixels(vae, pixels, _WHAT), masks if noise_mask else None)
        extra = {"concat_latent_image": concat_latent, "concat_mask": masks}
        return (replace_all(positive, **extra), replace_all(negative, **extra), latent)


INPAINT_NODES = [InpaintModelConditioning]
