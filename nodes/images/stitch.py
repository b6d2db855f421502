"""ImageStitch's arithmetic (ComfyUI's ``comfy_extras/nodes_images.py``): joining two image
batches side by side or stacked, with optional spacing. Pure functions; no argument is
modified."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.images.resize import upscale_image

DIRECTIONS: tuple[str, ...] = ("right", "down", "left", "up")
SPACING_COLORS: dict[str, float | tuple[float, float, float]] = {
    "white": 1.0, "black": 0.0, "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}


def _extend_batch(image: torch.Tensor, batch: int) -> torch.Tensor:
    """The batch lengthened by repeating its last image."""
    missing = batch - image.shape[0]
    if missing <= 0:
        return image
    return torch.cat([image, image[-1:].repeat(missing, 1, 1, 1)])


def _match_size(image1: torch.Tensor, image2: torch.Tensor, horizontal: bool) -> torch.Tensor:
    """image2 resized (Lanczos) to image1's height (side by side) or width (stacked), keeping
    its aspect ratio; the other side is truncated to whole pixels."""
    h1, w1 = image1.shape[1:3]
    h2, w2 = image2.shape[1:3]
    aspect = w2 / h2
    if horizontal:
        height, width = h1, int(h1 * aspect)
    else:
        height, width = int(w1 / aspect), w1
    return upscale_image(image2, width, height, "lanczos")


def _centre_pad(image: torch.Tensor, target: int, dim: int, value: float) -> torch.Tensor:
    """Pads ``dim`` (1: height, 2: width) of (B, H, W, C) to ``target``, centred (the extra
    pixel, if odd, at the end)."""
    missing = target - image.shape[dim]
    if missing <= 0:
        return image
    before, after = missing // 2, missing - missing // 2
    pad = (0, 0, 0, 0, before, after) if dim == 1 else (0, 0, before, after)
    return F.pad(image, pad, mode="constant", value=value)


def _add_ones(image: torch.Tensor, channels: int) -> torch.Tensor:
    missing = channels - image.shape[-1]
    if missing <= 0:
        return image
    ones = torch.ones((*image.shape[:-1], missing), dtype=image.dtype, device=image.device)
    return torch.cat([image, ones], dim=-1)


def _spacing(shape: tuple[int, int, int, int], color: str, like: torch.Tensor) -> torch.Tensor:
    """A (B, h, w, C) spacer: RGB from the colour, alpha (a 4th channel) 1."""
    spacer = torch.zeros(shape, dtype=like.dtype, device=like.device)
    value = SPACING_COLORS[color]
    if isinstance(value, tuple):
        for index, component in enumerate(value[:shape[-1]]):
            spacer[..., index] = component
    else:
        spacer[..., :min(3, shape[-1])] = value
    if shape[-1] == 4:
        spacer[..., 3] = 1.0
    return spacer


def stitch(image1: torch.Tensor, image2: torch.Tensor, direction: str, match_image_size: bool,
           spacing_width: int, spacing_color: str) -> torch.Tensor:
    """image2 joined to image1 on the ``direction`` side: (B, H, W1 + s + W2, C) or
    (B, H1 + s + H2, W, C)."""
    horizontal = direction in ("left", "right")
    batch = max(image1.shape[0], image2.shape[0])
    image1, image2 = _extend_batch(image1, batch), _extend_batch(image2, batch)
    if match_image_size:
        image2 = _match_size(image1, image2, horizontal)
    else:
        value = SPACING_COLORS[spacing_color]
        pad_value = value if isinstance(value, float) else 0.0
        dim = 1 if horizontal else 2
        target = max(image1.shape[dim], image2.shape[dim])
        image1 = _centre_pad(image1, target, dim, pad_value)
        image2 = _centre_pad(image2, target, dim, pad_value)
    channels = max(image1.shape[-1], image2.shape[-1])
    image1, image2 = _add_ones(image1, channels), _add_ones(image2, channels)
    parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
    if spacing_width > 0:
        spacing_width += spacing_width % 2  # even
        if horizontal:
            shape = (batch, max(image1.shape[1], image2.shape[1]), spacing_width, channels)
        else:
            shape = (batch, spacing_width, max(image1.shape[2], image2.shape[2]), channels)
        parts.insert(1, _spacing(shape, spacing_color, image1))
    return torch.cat(parts, dim=2 if horizontal else 1)
