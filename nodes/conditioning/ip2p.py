"""InstructPixToPixConditioning: the inputs of an 8-channel InstructPix2Pix model, ComfyUI's
way. The image's latent is attached to both conditionings (``Cond.concat_latent_image``), which
an InstructPix2Pix UNet receives as its 4 extra channels (other models ignore it); the LATENT to
sample from is zeros of the same size."""

from __future__ import annotations

from typing import Any

import torch

from diffusion.guidance.cond import Conditioning, replace_all
from nodes.api import CONDITIONING, IMAGE, LATENT, VAE, Link, Node, Output, RunContext
from nodes.payloads import Latent, Vae
from nodes.vae.codec import encode_pixels


class InstructPixToPixConditioning(Node):
    """Prepares an InstructPix2Pix edit: both conditionings carry the image's latent, and an
    empty latent of its size is returned to sample from."""

    category = "conditioning/instructpix2pix"
    inputs = (
        Link("positive", CONDITIONING, tooltip="The edit instruction."),
        Link("negative", CONDITIONING, tooltip="The negative conditioning."),
        Link("vae", VAE, tooltip="The VAE that encodes the image."),
        Link("pixels", IMAGE, tooltip="The image to edit (cropped to multiples of 8)."),
    )
    outputs = (Output(CONDITIONING, "positive"), Output(CONDITIONING, "negative"),
               Output(LATENT, "latent"))

    def run(self, ctx: RunContext, positive: Conditioning, negative: Conditioning, vae: Vae,
            pixels: torch.Tensor) -> tuple[Any, ...]:
        concat = encode_pixels(vae, pixels, "InstructPixToPixConditioning input 'pixels'")
        return (replace_all(positive, concat_latent_image=concat),
                replace_all(negative, concat_latent_image=concat),
                Latent(torch.zeros_like(concat)))


IP2P_NODES: list[type[Node]] = [InstructPixToPixConditioning]
