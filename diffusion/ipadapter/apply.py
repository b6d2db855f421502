"""Applying an IP-Adapter to a UNet: CLIP vision embeddings to per-layer image keys and values,
and the attention processor that uses them (the plugin's ``ipadapter_execute``).

The adapter's projections run once here, with the adapter resident; sampling only needs the
resulting keys and values (``LayerImage``), so the adapter's weights need not stay loaded.
Several images are concatenated as tokens (``combine_embeds="concat"``, what the plugin's batch
view of the keys amounts to) or combined before the projection (add, subtract, average, norm
average; the negative is then the first negative row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.ipadapter.attention import IPAdapterAttention, LayerImage
from diffusion.ipadapter.layers import CrossAttentionSlot
from diffusion.ipadapter.model import IPAdapterConfig, IPAdapterModel
from diffusion.ipadapter.weights import WeightSchedule

COMBINE_METHODS = ("concat", "add", "subtract", "average", "norm average")
FAMILY_WIDTHS = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}


def combine_embeds(embeds: Tensor, method: str) -> Tensor:
    """The plugin's ``combine_embeds`` over the image batch (dim 0) of CLIP embeddings."""
    if method not in COMBINE_METHODS:
        raise ValueError(f"combine_embeds {method!r}: choose one of {list(COMBINE_METHODS)}")
    if method == "concat" or embeds.shape[0] == 1:
        return embeds
    if method == "add":
        return embeds.sum(dim=0, keepdim=True)
    if method == "subtract":
        return (embeds[0] - embeds[1:].mean(dim=0)).unsqueeze(0)
    if method == "average":
        return embeds.mean(dim=0, keepdim=True)
    return (embeds / embeds.norm(dim=0, keepdim=True)).mean(dim=0, keepdim=True)


def check_fits(config: IPAdapterConfig, slots: Sequence[CrossAttentionSlot], context_dim: int,
               what: str) -> None:
    """Refuses an adapter made for another family, naming both."""
    layers = {slot.key: slot.inner for slot in slots}
    if config.token_dim == context_dim and dict(config.layers) == layers:
        return
    family = FAMILY_WIDTHS.get(context_dim, f"{context_dim}-wide context")
    raise ValueError(f"{what} is a {config.describe()}; the model is {family} "
                     f"({context_dim}-wide context, {len(layers)} cross-attention layers)")


@dataclass(frozen=True, eq=False)
class AdapterImages:
    """CLIP inputs of the positive and negative images, (n, D) or (n, P, D) each."""

    cond: Tensor
    uncond: Tensor


def project_images(model: IPAdapterModel, images: AdapterImages,
                   slots: Sequence[CrossAttentionSlot],
                   device: torch.device | str = "cpu") -> dict[int, LayerImage]:
    """Keys and values of the image tokens at every slot's layer (float32, on ``device``)."""
    with torch.no_grad():
        cond = model.project(images.cond)  # (n, T, C)
        uncond = model.project(images.uncond)
        cond, uncond = (t.reshape(1, -1, t.shape[-1]) for t in (cond, uncond))  # (1, n T, C)
        out = {}
        for slot in slots:
            k_c, v_c = model.key_value(slot.key, cond)
            k_u, v_u = model.key_value(slot.key, uncond)
            out[slot.key] = LayerImage(*(t.float().to(device) for t in (k_c, v_c, k_u, v_u)))
    return out


@dataclass(frozen=True)
class Application:
    """How one adapter is applied: weight and type, the fraction of the schedule it acts on
    (as sigmas), embeds scaling, mask, and whether the middle block is patched (the plugin
    never reaches it: its key ``("middle", 1)`` is not a block ComfyUI's UNet has)."""

    schedule: WeightSchedule
    sigma_start: float = float("inf")
    sigma_end: float = 0.0
    embeds_scaling: str = "V only"
    mask: Tensor | None = None
    patch_middle: bool = False


def attention_processor(model: IPAdapterModel, images: AdapterImages,
                        slots: Sequence[CrossAttentionSlot], how: Application,
                        device: torch.device | str = "cpu") -> IPAdapterAttention:
    """The processor applying ``model`` with ``images`` at ``slots`` (all checked to fit); its
    keys, values and mask live on ``device`` (where the UNet will run)."""
    used = [s for s in slots if how.patch_middle or s.block[0] != "middle"]
    layers = project_images(model, images, used, device)
    mask = None if how.mask is None else how.mask.float().to(device)
    return IPAdapterAttention({(s.block, s.transformer_index): s for s in used}, layers,
                              how.schedule, how.sigma_start, how.sigma_end, how.embeds_scaling,
                              mask)
