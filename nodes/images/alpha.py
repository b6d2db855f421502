"""Alpha nodes: JoinImageWithAlpha, SplitImageWithAlpha, PorterDuffImageComposite (ComfyUI's
``comfy_extras/nodes_compositing.py``). Alphas travel as MASKs (1 = transparent); masks may be
(H, W) or (B, H, W)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nodes.api import IMAGE, MASK, Combo, Link, Node, Output, RunContext
from nodes.images.batch import check_image
from nodes.images.mask_ops import as_mask_batch
from nodes.images.porter_duff import MODES, porter_duff
from nodes.images.resize import repeat_to_batch, upscale


class JoinImageWithAlpha(Node):
    """Makes RGBA images: the RGB of `image` and 1 − `alpha` (resized bilinearly) as alpha;
    the shorter batch is repeated."""

    display_name = "Join Image with Alpha"
    category = "mask/compositing"
    inputs = (
        Link("image", IMAGE, tooltip="The colour images (RGB is kept)."),
        Link("alpha", MASK, tooltip="A mask whose inverse becomes the alpha channel."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, alpha: torch.Tensor) -> tuple[Any, ...]:
        check_image("JoinImageWithAlpha", "image", image)
        masks = as_mask_batch(alpha)  # (B', h, w)
        batch = max(image.shape[0], masks.shape[0])
        image, masks = repeat_to_batch(image, batch), repeat_to_batch(masks, batch)
        resized = F.interpolate(masks[:, None].to(image), size=image.shape[1:3],
                                mode="bilinear")[:, 0]  # (B, H, W)
        return (torch.cat((image[..., :3], (1.0 - resized)[..., None]), dim=-1),)


class SplitImageWithAlpha(Node):
    """Splits images into RGB and a mask of 1 − alpha (zeros when there is no alpha)."""

    display_name = "Split Image with Alpha"
    category = "mask/compositing"
    inputs = (Link("image", IMAGE, tooltip="The images to split."),)
    outputs = (Output(IMAGE), Output(MASK))

    def run(self, ctx: RunContext, image: torch.Tensor) -> tuple[Any, ...]:
        check_image("SplitImageWithAlpha", "image", image)
        alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
        return (image[..., :3].clone(), 1.0 - alpha)  # (B, H, W, 3), (B, H, W)


def _resized(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W, C) resized bicubic with centre crop, as ComfyUI's common_upscale."""
    return upscale(pixels.movedim(-1, 0)[None], width, height, "bicubic", "center")[0].movedim(
        0, -1)


def _composite_one(source: torch.Tensor, source_alpha: torch.Tensor,
                   destination: torch.Tensor, destination_alpha: torch.Tensor,
                   mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One image: colours (H, W, C), masks (H, W) → colour (H, W, C), mask (H, W)."""
    if source.shape[-1] != destination.shape[-1]:
        raise ValueError(f"PorterDuffImageComposite: source has {source.shape[-1]} channels, "
                         f"destination {destination.shape[-1]}; they must match")
    height, width = destination.shape[:2]
    src_mask, dst_mask = source_alpha[..., None], destination_alpha[..., None]  # (h, w, 1)
    if dst_mask.shape[:2] != destination.shape[:2]:
        dst_mask = _resized(dst_mask, height, width)
    if source.shape != destination.shape:
        source = _resized(source, height, width)
    if src_mask.shape != dst_mask.shape:
        src_mask = _resized(src_mask, dst_mask.shape[0], dst_mask.shape[1])
    image, mask = porter_duff(source, src_mask, destination, dst_mask, mode)
    return image, mask[..., 0]


class PorterDuffImageComposite(Node):
    """Composites source over destination with a Porter–Duff mode; alphas are masks (1 =
    transparent). The source and the masks are resized (bicubic) to the destination."""

    display_name = "Porter-Duff Image Composite"
    category = "mask/compositing"
    inputs = (
        Link("source", IMAGE, tooltip="The source colours."),
        Link("source_alpha", MASK, tooltip="The source's mask (1 = transparent)."),
        Link("destination", IMAGE, tooltip="The destination colours."),
        Link("destination_alpha", MASK, tooltip="The destination's mask (1 = transparent)."),
        Combo("mode", choices=MODES, default="DST", tooltip="The Porter-Duff operator."),
    )
    outputs = (Output(IMAGE), Output(MASK))

    def run(self, ctx: RunContext, source: torch.Tensor, source_alpha: torch.Tensor,
            destination: torch.Tensor, destination_alpha: torch.Tensor,
            mode: str) -> tuple[Any, ...]:
        check_image("PorterDuffImageComposite", "source", source)
        check_image("PorterDuffImageComposite", "destination", destination)
        src_masks, dst_masks = as_mask_batch(source_alpha), as_mask_batch(destination_alpha)
        count = min(len(source), len(src_masks), len(destination), len(dst_masks))
        pairs = [_composite_one(source[i], src_masks[i], destination[i], dst_masks[i], mode)
                 for i in range(count)]
        return (torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]))


ALPHA_NODES: list[type[Node]] = [PorterDuffImageComposite, SplitImageWithAlpha,
                                 JoinImageWithAlpha]
